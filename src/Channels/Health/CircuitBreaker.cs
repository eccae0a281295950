using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Health;

/// <summary>The three states of a breaker.</summary>
public enum BreakerState
{
    /// <summary>Attempts go through.</summary>
    Closed,

    /// <summary>Attempts are refused until the cooldown ends.</summary>
    Open,

    /// <summary>The cooldown ended: one probe attempt may go; its outcome closes or reopens the breaker.</summary>
    HalfOpen,
}

/// <summary>What <see cref="CircuitBreaker.TryEnter"/> granted.</summary>
public enum BreakerPermit
{
    /// <summary>Refused: the breaker is open, or its one probe is already out.</summary>
    Denied,

    /// <summary>An ordinary attempt.</summary>
    Allowed,

    /// <summary>The half-open probe: its report decides the breaker's state.</summary>
    Probe,
}

/// <summary>
/// One breaker (of a channel, an upstream key or a destination). Opens after
/// <see cref="BreakerOptions.ConsecutiveFailures"/> failures in a row or a failure ratio over the window,
/// or at once for an upstream's <c>retry-after</c> (a cooldown) or a refused key. When the cooldown ends it
/// lets exactly one probe through: success closes it, failure reopens it for twice as long.
/// Thread-safe; all times come from the caller so tests drive it with a manual clock.
/// </summary>
public sealed class CircuitBreaker
{
    private const int Buckets = 10;

    // Failures counted per kind, indexed by its value (None, 0, is never counted).
    private static readonly int s_classes = Enum.GetValues<FailureKind>().Length;

    private readonly Lock _lock = new();
    private readonly BreakerOptions _options;
    private readonly long _bucketTicks;

    // The sliding window: Buckets slices of Window/Buckets each, indexed by (slice number % Buckets).
    private readonly long[] _bucketSlice = new long[Buckets];
    private readonly int[] _successes = new int[Buckets];
    private readonly int[] _failures = new int[Buckets];
    private readonly int[,] _byClass = new int[Buckets, s_classes];

    // Who failed (see OnFailure), per streak and per bucket: distinct callers, up to MinimumCallers of them.
    private readonly CallerSet[] _bucketCallers = new CallerSet[Buckets];
    private readonly CallerSet _streakCallers;

    private BreakerState _state;
    private DateTimeOffset _openUntil;
    private FailureKind? _openReason;
    private int _consecutiveFailures;
    private int _trips;
    private int _rejections;
    private DateTimeOffset? _probeSince;
    private (FailureKind Class, DateTimeOffset At)? _lastFailure;

    /// <summary>Creates a closed breaker.</summary>
    public CircuitBreaker(BreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _bucketTicks = Math.Max(1, options.Window.Ticks / Buckets);
        Array.Fill(_bucketSlice, -1);
        _streakCallers = new CallerSet(options.MinimumCallers);
        for (var b = 0; b < Buckets; b++)
        {
            _bucketCallers[b] = new CallerSet(options.MinimumCallers);
        }
    }

    /// <summary>True when an attempt would be let through now (without taking the probe).</summary>
    public bool IsAvailable(DateTimeOffset now)
    {
        lock (_lock)
        {
            return _state switch
            {
                BreakerState.Closed => true,
                BreakerState.Open => now >= _openUntil,
                _ => ProbeMayGo(now),
            };
        }
    }

    /// <summary>When the breaker lets an attempt through again: now when it does already.</summary>
    public DateTimeOffset AvailableAt(DateTimeOffset now)
    {
        lock (_lock)
        {
            return _state switch
            {
                BreakerState.Open when now < _openUntil => _openUntil,
                BreakerState.HalfOpen when !ProbeMayGo(now) => _probeSince!.Value + _options.ProbeTimeout,
                _ => now,
            };
        }
    }

    /// <summary>Why the breaker is open (the kind of the failure that opened it), or null when closed.</summary>
    public FailureKind? OpenReason
    {
        get
        {
            lock (_lock)
            {
                return _state == BreakerState.Closed ? null : _openReason;
            }
        }
    }

    /// <summary>Asks to send an attempt. A <see cref="BreakerPermit.Probe"/> must be reported (success, failure or abandoned).</summary>
    public BreakerPermit TryEnter(DateTimeOffset now)
    {
        lock (_lock)
        {
            switch (_state)
            {
                case BreakerState.Closed:
                    return BreakerPermit.Allowed;
                case BreakerState.Open when now < _openUntil:
                    return BreakerPermit.Denied;
                case BreakerState.Open:
                    _state = BreakerState.HalfOpen;
                    _probeSince = now;
                    return BreakerPermit.Probe;
                default:
                    if (!ProbeMayGo(now))
                    {
                        return BreakerPermit.Denied;
                    }

                    _probeSince = now;
                    return BreakerPermit.Probe;
            }
        }
    }

    /// <summary>The attempt succeeded; a successful probe closes the breaker.</summary>
    public void OnSuccess(DateTimeOffset now, BreakerPermit permit)
    {
        lock (_lock)
        {
            Count(now, failure: null);
            _consecutiveFailures = 0;
            _streakCallers.Clear();
            if (permit == BreakerPermit.Probe && _state == BreakerState.HalfOpen)
            {
                // A recovered target starts afresh: the failures that opened it no longer count.
                _state = BreakerState.Closed;
                _trips = 0;
                _rejections = 0;
                _openReason = null;
                _probeSince = null;
                Array.Fill(_bucketSlice, -1);
            }
        }
    }

    /// <summary>
    /// The attempt failed. A failed probe reopens the breaker for twice as long; a closed breaker opens when
    /// the failures in a row or the failure ratio over the window reach their thresholds, and those failures came
    /// from more than one caller. One caller's requests alone never open a breaker every caller shares: a 500 or a
    /// reset can follow from what a request holds (a poison prompt), and that caller's own requests still fail over
    /// one by one. An outage fails everyone's requests, so it trips as soon as two callers saw it.
    /// </summary>
    /// <param name="now">The time.</param>
    /// <param name="permit">What <see cref="TryEnter"/> granted the attempt.</param>
    /// <param name="failure">What failed.</param>
    /// <param name="caller">Who sent the request (a key id); null when unknown, which counts as a caller of its own.</param>
    public void OnFailure(DateTimeOffset now, BreakerPermit permit, FailureKind failure, string? caller = null)
    {
        lock (_lock)
        {
            Count(now, failure, caller);
            _consecutiveFailures++;
            _streakCallers.Add(caller);
            if (permit == BreakerPermit.Probe && _state == BreakerState.HalfOpen)
            {
                Trip(now, failure);
                return;
            }

            if (_state != BreakerState.Closed)
            {
                return;
            }

            var (attempts, failures) = WindowTotals(now);
            if ((_consecutiveFailures >= _options.ConsecutiveFailures && _streakCallers.IsFull)
                || (attempts >= _options.MinimumAttempts && failures >= _options.FailureRatio * attempts && WindowHasManyCallers(now)))
            {
                Trip(now, failure);
            }
        }
    }

    private bool WindowHasManyCallers(DateTimeOffset now)
    {
        var current = now.UtcTicks / _bucketTicks;
        var seen = new CallerSet(_options.MinimumCallers);
        for (var b = 0; b < Buckets && !seen.IsFull; b++)
        {
            if (InWindow(b, current))
            {
                seen.AddAll(_bucketCallers[b]);
            }
        }

        return seen.IsFull;
    }

    /// <summary>
    /// The upstream asked for a pause (<c>retry-after</c> or an exhausted rate limit): open until
    /// <paramref name="until"/> (capped at <see cref="BreakerOptions.MaxCooldown"/>), then probe.
    /// Never shortens an open period already running.
    /// </summary>
    /// <returns>When the breaker opens again for attempts.</returns>
    public DateTimeOffset CoolDown(DateTimeOffset now, DateTimeOffset until, FailureKind failure)
    {
        lock (_lock)
        {
            Count(now, failure);
            _consecutiveFailures++;
            var capped = until - now > _options.MaxCooldown ? now + _options.MaxCooldown : until;
            Open(now, capped, failure);
            return _openUntil;
        }
    }

    /// <summary>
    /// The upstream refused this key (401/403): left out for <see cref="BreakerOptions.KeyRejectedCooldown"/>,
    /// doubling each time a probe is refused too, so it comes back by itself when an operator fixes it upstream.
    /// Only once refusals came from <see cref="BreakerOptions.MinimumCallers"/> callers (since the last success): a
    /// 403 can follow from what one request holds (a moderation refusal, a feature the account lacks), and one
    /// caller must not take a channel's keys out for everyone. A refused probe counts at once.
    /// Refusals of requests that were already under way when the key was left out change nothing.
    /// </summary>
    /// <param name="now">The time.</param>
    /// <param name="caller">Who sent the refused request; null when unknown (counts as a caller of its own).</param>
    /// <param name="permit">What <see cref="TryEnter"/> granted the attempt.</param>
    /// <returns>When one request may probe the key again; null when the key stays in use.</returns>
    public DateTimeOffset? Reject(DateTimeOffset now, string? caller = null, BreakerPermit permit = BreakerPermit.Allowed)
    {
        lock (_lock)
        {
            Count(now, FailureKind.KeyRejected, caller);
            _consecutiveFailures++;
            _streakCallers.Add(caller);
            if (_state == BreakerState.Open && now < _openUntil && _openReason == FailureKind.KeyRejected)
            {
                return _openUntil;
            }

            var probeRefused = permit == BreakerPermit.Probe && _state == BreakerState.HalfOpen;
            if (!probeRefused && !_streakCallers.IsFull)
            {
                return null;
            }

            var cooldown = Scale(_options.KeyRejectedCooldown, _rejections++, _options.MaxKeyRejectedCooldown);
            Open(now, now + cooldown, FailureKind.KeyRejected);
            return _openUntil;
        }
    }

    /// <summary>Opens until <paramref name="until"/> because another replica learnt it (not counted as an attempt here).</summary>
    public void Apply(DateTimeOffset now, DateTimeOffset until, FailureKind reason)
    {
        lock (_lock)
        {
            if (until > now)
            {
                Open(now, until, reason);
            }
        }
    }

    /// <summary>The attempt ended without saying anything about this target (client left, another part failed): frees a probe.</summary>
    public void OnAbandoned(BreakerPermit permit)
    {
        lock (_lock)
        {
            if (permit == BreakerPermit.Probe && _state == BreakerState.HalfOpen)
            {
                _probeSince = null;
            }
        }
    }

    /// <summary>The breaker's state for the status page.</summary>
    public BreakerReport Report(DateTimeOffset now)
    {
        lock (_lock)
        {
            var state = _state == BreakerState.Open && now >= _openUntil ? BreakerState.HalfOpen : _state;
            var (attempts, failures) = WindowTotals(now);
            var recent = new SortedDictionary<string, int>(StringComparer.Ordinal);
            var current = now.UtcTicks / _bucketTicks;
            for (var b = 0; b < Buckets; b++)
            {
                if (!InWindow(b, current))
                {
                    continue;
                }

                for (var c = 0; c < s_classes; c++)
                {
                    if (_byClass[b, c] > 0)
                    {
                        var name = ((FailureKind)c).Name();
                        recent[name] = recent.GetValueOrDefault(name) + _byClass[b, c];
                    }
                }
            }

            return new BreakerReport
            {
                State = state,
                OpenUntil = state == BreakerState.Open ? _openUntil : null,
                Reason = state == BreakerState.Closed ? null : _openReason,
                ConsecutiveFailures = _consecutiveFailures,
                WindowAttempts = attempts,
                WindowFailures = failures,
                RecentErrors = recent,
                LastFailure = _lastFailure?.Class,
                LastFailureAt = _lastFailure?.At,
            };
        }
    }

    private bool ProbeMayGo(DateTimeOffset now) => _probeSince is not { } since || now - since >= _options.ProbeTimeout;

    private void Trip(DateTimeOffset now, FailureKind failure)
    {
        var cooldown = Scale(_options.BaseCooldown, _trips++, _options.MaxCooldown);
        Open(now, now + cooldown, failure);
    }

    private void Open(DateTimeOffset now, DateTimeOffset until, FailureKind reason)
    {
        if (_state == BreakerState.Open && until <= _openUntil)
        {
            return;
        }

        _state = BreakerState.Open;
        _openUntil = until > now ? until : now;
        _openReason = reason;
        _probeSince = null;
    }

    private static TimeSpan Scale(TimeSpan start, int doublings, TimeSpan max)
    {
        var factor = Math.Pow(2, Math.Min(doublings, 30));
        var ticks = start.Ticks * factor;
        return ticks >= max.Ticks ? max : TimeSpan.FromTicks((long)ticks);
    }

    private void Count(DateTimeOffset now, FailureKind? failure, string? caller = null)
    {
        var slice = now.UtcTicks / _bucketTicks;
        var b = (int)(slice % Buckets);
        if (_bucketSlice[b] != slice)
        {
            _bucketSlice[b] = slice;
            _successes[b] = 0;
            _failures[b] = 0;
            for (var c = 0; c < s_classes; c++)
            {
                _byClass[b, c] = 0;
            }

            _bucketCallers[b].Clear();
        }

        if (failure is { } f)
        {
            _bucketCallers[b].Add(caller);
            _failures[b]++;
            _byClass[b, (int)f]++;
            _lastFailure = (f, now);
        }
        else
        {
            _successes[b]++;
        }
    }

    private (int Attempts, int Failures) WindowTotals(DateTimeOffset now)
    {
        var current = now.UtcTicks / _bucketTicks;
        int attempts = 0, failures = 0;
        for (var b = 0; b < Buckets; b++)
        {
            if (InWindow(b, current))
            {
                attempts += _successes[b] + _failures[b];
                failures += _failures[b];
            }
        }

        return (attempts, failures);
    }

    private bool InWindow(int bucket, long currentSlice) =>
        _bucketSlice[bucket] >= 0 && currentSlice - _bucketSlice[bucket] < Buckets;

    /// <summary>Distinct callers, counted up to a small limit; an unknown caller (null) counts as one nobody else is.</summary>
    private sealed class CallerSet(int limit)
    {
        private readonly List<string> _callers = new(limit);
        private int _unknown;

        public bool IsFull => _callers.Count + _unknown >= limit;

        public void Add(string? caller)
        {
            if (IsFull)
            {
                return;
            }

            if (caller is null)
            {
                _unknown++;
            }
            else if (!_callers.Contains(caller, StringComparer.Ordinal))
            {
                _callers.Add(caller);
            }
        }

        public void AddAll(CallerSet other)
        {
            foreach (var caller in other._callers)
            {
                Add(caller);
            }

            for (var i = 0; i < other._unknown; i++)
            {
                Add(null);
            }
        }

        public void Clear()
        {
            _callers.Clear();
            _unknown = 0;
        }
    }
}

/// <summary>A breaker's state as the status page shows it.</summary>
public sealed record BreakerReport
{
    /// <summary>Closed, open (cooling down), or half-open (the next attempt is a probe).</summary>
    public required BreakerState State { get; init; }

    /// <summary>When an open breaker lets a probe through.</summary>
    public DateTimeOffset? OpenUntil { get; init; }

    /// <summary>The failure that opened it.</summary>
    public FailureKind? Reason { get; init; }

    /// <summary>Failures since the last success.</summary>
    public int ConsecutiveFailures { get; init; }

    /// <summary>Attempts within the window.</summary>
    public int WindowAttempts { get; init; }

    /// <summary>Failed attempts within the window.</summary>
    public int WindowFailures { get; init; }

    /// <summary>Failures within the window by class name.</summary>
    public IReadOnlyDictionary<string, int> RecentErrors { get; init; } = new Dictionary<string, int>();

    /// <summary>The kind of the last failure, however old.</summary>
    public FailureKind? LastFailure { get; init; }

    /// <summary>When the last failure happened.</summary>
    public DateTimeOffset? LastFailureAt { get; init; }
}
