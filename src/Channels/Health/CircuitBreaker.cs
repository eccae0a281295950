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
    private static readonly int s_classes = Enum.GetValues<FailureClass>().Length;

    private readonly Lock _lock = new();
    private readonly BreakerOptions _options;
    private readonly long _bucketTicks;

    // The sliding window: Buckets slices of Window/Buckets each, indexed by (slice number % Buckets).
    private readonly long[] _bucketSlice = new long[Buckets];
    private readonly int[] _successes = new int[Buckets];
    private readonly int[] _failures = new int[Buckets];
    private readonly int[,] _byClass = new int[Buckets, s_classes];

    private BreakerState _state;
    private DateTimeOffset _openUntil;
    private FailureClass? _openReason;
    private int _consecutiveFailures;
    private int _trips;
    private int _rejections;
    private DateTimeOffset? _probeSince;
    private (FailureClass Class, DateTimeOffset At)? _lastFailure;

    /// <summary>Creates a closed breaker.</summary>
    public CircuitBreaker(BreakerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _bucketTicks = Math.Max(1, options.Window.Ticks / Buckets);
        Array.Fill(_bucketSlice, -1);
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

    /// <summary>Why the breaker is open (the class of the failure that opened it), or null when closed.</summary>
    public FailureClass? OpenReason
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
    /// the failures in a row or the failure ratio over the window reach their thresholds.
    /// </summary>
    public void OnFailure(DateTimeOffset now, BreakerPermit permit, FailureClass failure)
    {
        lock (_lock)
        {
            Count(now, failure);
            _consecutiveFailures++;
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
            if (_consecutiveFailures >= _options.ConsecutiveFailures
                || (attempts >= _options.MinimumAttempts && failures >= _options.FailureRatio * attempts))
            {
                Trip(now, failure);
            }
        }
    }

    /// <summary>
    /// The upstream asked for a pause (<c>retry-after</c> or an exhausted rate limit): open until
    /// <paramref name="until"/> (capped at <see cref="BreakerOptions.MaxCooldown"/>), then probe.
    /// Never shortens an open period already running.
    /// </summary>
    /// <returns>When the breaker opens again for attempts.</returns>
    public DateTimeOffset CoolDown(DateTimeOffset now, DateTimeOffset until, FailureClass failure)
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
    /// Refusals of requests that were already under way when the key was left out change nothing.
    /// </summary>
    /// <returns>When one request may probe the key again.</returns>
    public DateTimeOffset Reject(DateTimeOffset now)
    {
        lock (_lock)
        {
            Count(now, FailureClass.KeyRejected);
            _consecutiveFailures++;
            if (_state == BreakerState.Open && now < _openUntil && _openReason == FailureClass.KeyRejected)
            {
                return _openUntil;
            }

            var cooldown = Scale(_options.KeyRejectedCooldown, _rejections++, _options.MaxKeyRejectedCooldown);
            Open(now, now + cooldown, FailureClass.KeyRejected);
            return _openUntil;
        }
    }

    /// <summary>Opens until <paramref name="until"/> because another replica learnt it (not counted as an attempt here).</summary>
    public void Apply(DateTimeOffset now, DateTimeOffset until, FailureClass reason)
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
                        var name = ((FailureClass)c).Name();
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

    private void Trip(DateTimeOffset now, FailureClass failure)
    {
        var cooldown = Scale(_options.BaseCooldown, _trips++, _options.MaxCooldown);
        Open(now, now + cooldown, failure);
    }

    private void Open(DateTimeOffset now, DateTimeOffset until, FailureClass reason)
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

    private void Count(DateTimeOffset now, FailureClass? failure)
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
        }

        if (failure is { } f)
        {
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
}

/// <summary>A breaker's state as the status page shows it.</summary>
public sealed record BreakerReport
{
    /// <summary>Closed, open (cooling down), or half-open (the next attempt is a probe).</summary>
    public required BreakerState State { get; init; }

    /// <summary>When an open breaker lets a probe through.</summary>
    public DateTimeOffset? OpenUntil { get; init; }

    /// <summary>The failure that opened it.</summary>
    public FailureClass? Reason { get; init; }

    /// <summary>Failures since the last success.</summary>
    public int ConsecutiveFailures { get; init; }

    /// <summary>Attempts within the window.</summary>
    public int WindowAttempts { get; init; }

    /// <summary>Failed attempts within the window.</summary>
    public int WindowFailures { get; init; }

    /// <summary>Failures within the window by class name.</summary>
    public IReadOnlyDictionary<string, int> RecentErrors { get; init; } = new Dictionary<string, int>();

    /// <summary>The class of the last failure, however old.</summary>
    public FailureClass? LastFailure { get; init; }

    /// <summary>When the last failure happened.</summary>
    public DateTimeOffset? LastFailureAt { get; init; }
}
