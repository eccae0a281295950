using CcxProxy.Keys;

namespace CcxProxy.Limits;

/// <summary>
/// The limiter of a single instance: the embedded default when Redis is not configured, and the per-replica
/// fallback of <see cref="FailOpenLimitStore"/>. Same semantics as <see cref="RedisLimitStore"/> (the contract
/// tests run against both); see README.md in this folder. One lock: decisions are a few dictionary lookups.
/// </summary>
internal sealed class InMemoryLimitStore : ILimitStore
{
    private static readonly LimitKind[] CheckOrder = [LimitKind.Quota, LimitKind.Concurrency, LimitKind.Requests, LimitKind.InputTokens, LimitKind.OutputTokens];
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time;
    private readonly double _leaseTtlMs;
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Scope, LimitKind Kind), double> _tats = [];
    private readonly Dictionary<string, Dictionary<string, double>> _leases = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Scope, string Period), Quota> _quotas = [];
    private double _nextSweepMs;

    /// <summary>Creates an empty store.</summary>
    public InMemoryLimitStore(TimeProvider time, LimitStoreOptions? options = null)
    {
        _time = time;
        _leaseTtlMs = (options ?? new LimitStoreOptions()).LeaseTtl.TotalMilliseconds;
    }

    /// <inheritdoc />
    public Task<LimitDecision> AcquireAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        var estimate = Math.Max(0, estimatedInputTokens);
        var nowDate = _time.GetUtcNow();
        var now = LimitMath.NowMs(_time);
        lock (_lock)
        {
            Sweep(now);
            foreach (var kind in CheckOrder)
            {
                foreach (var scope in scopes)
                {
                    if (Check(kind, scope, leaseId, estimate, now, nowDate) is { } refusal)
                    {
                        return Task.FromResult(refusal);
                    }
                }
            }

            LimitDecision? tightest = null;
            foreach (var scope in scopes)
            {
                var limits = scope.Limits;
                if (limits.Quota is { } quota && estimate > 0)
                {
                    var entry = QuotaEntry(scope.Scope, quota, nowDate);
                    entry.Used += estimate;
                }

                if (limits.Concurrency is not null)
                {
                    if (!_leases.TryGetValue(scope.Scope, out var leases))
                    {
                        _leases[scope.Scope] = leases = new Dictionary<string, double>(StringComparer.Ordinal);
                    }

                    leases[leaseId] = now + _leaseTtlMs;
                }

                if (limits.RequestsPerMinute is { } rpm)
                {
                    var interval = LimitMath.WindowMs / rpm;
                    var tat = Tat(scope.Scope, LimitKind.Requests, now) + interval;
                    _tats[(scope.Scope, LimitKind.Requests)] = tat;
                    var remaining = LimitMath.Remaining(tat, now, interval);
                    if (tightest is null || remaining < tightest.Remaining)
                    {
                        tightest = new LimitDecision { Admitted = true, Limit = rpm, Remaining = remaining };
                    }
                }

                if (limits.InputTokensPerMinute is { } itpm && estimate > 0)
                {
                    _tats[(scope.Scope, LimitKind.InputTokens)] = Tat(scope.Scope, LimitKind.InputTokens, now) + (estimate * (LimitMath.WindowMs / itpm));
                }
            }

            return Task.FromResult(tightest ?? LimitDecision.Admit);
        }
    }

    /// <inheritdoc />
    public Task ReleaseAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, long actualInputTokens, long actualOutputTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        var inputDelta = Math.Max(0, actualInputTokens) - Math.Max(0, estimatedInputTokens);
        var output = Math.Max(0, actualOutputTokens);
        var nowDate = _time.GetUtcNow();
        var now = LimitMath.NowMs(_time);
        lock (_lock)
        {
            foreach (var scope in scopes)
            {
                var limits = scope.Limits;
                if (limits.Concurrency is not null && _leases.TryGetValue(scope.Scope, out var leases))
                {
                    leases.Remove(leaseId);
                    if (leases.Count == 0)
                    {
                        _leases.Remove(scope.Scope);
                    }
                }

                if (limits.InputTokensPerMinute is { } itpm && itpm > 0 && inputDelta != 0)
                {
                    Charge(scope.Scope, LimitKind.InputTokens, inputDelta * (LimitMath.WindowMs / itpm), now);
                }

                if (limits.OutputTokensPerMinute is { } otpm && otpm > 0 && output > 0)
                {
                    Charge(scope.Scope, LimitKind.OutputTokens, output * (LimitMath.WindowMs / otpm), now);
                }

                if (limits.Quota is { } quota && inputDelta + output != 0)
                {
                    var entry = QuotaEntry(scope.Scope, quota, nowDate);
                    entry.Used = Math.Max(0, entry.Used + inputDelta + output);
                }
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task RenewAsync(IReadOnlyList<LimitScope> scopes, string leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        var now = LimitMath.NowMs(_time);
        lock (_lock)
        {
            foreach (var scope in scopes)
            {
                // Only a live slot is extended: an expired one may already have been given to someone else.
                if (scope.Limits.Concurrency is not null
                    && _leases.TryGetValue(scope.Scope, out var leases)
                    && leases.TryGetValue(leaseId, out var expiry)
                    && expiry > now)
                {
                    leases[leaseId] = now + _leaseTtlMs;
                }
            }
        }

        return Task.CompletedTask;
    }

    private LimitDecision? Check(LimitKind kind, LimitScope scope, string leaseId, long estimate, double now, DateTimeOffset nowDate)
    {
        var limits = scope.Limits;
        switch (kind)
        {
            case LimitKind.Quota when limits.Quota is { } quota:
                var (suffix, end) = LimitMath.QuotaPeriodOf(quota.Period, nowDate);
                var used = _quotas.TryGetValue((scope.Scope, suffix), out var entry) ? entry.Used : 0;
                return used < quota.Tokens ? null : Refuse(kind, scope, end is { } e ? LimitMath.CeilMs((e - nowDate).TotalMilliseconds) : null, quota.Tokens, 0);

            case LimitKind.Concurrency when limits.Concurrency is { } concurrency:
                if (!_leases.TryGetValue(scope.Scope, out var leases))
                {
                    return concurrency > 0 ? null : Refuse(kind, scope, LimitMath.ConcurrencyRetryMs, concurrency, 0);
                }

                if (leases.TryGetValue(leaseId, out var own) && own > now)
                {
                    return null; // The same lease again: it already holds its slot.
                }

                var live = leases.Values.Count(expiry => expiry > now);
                return live < concurrency ? null : Refuse(kind, scope, LimitMath.ConcurrencyRetryMs, concurrency, 0);

            case LimitKind.Requests when limits.RequestsPerMinute is { } rpm:
                return CheckRate(kind, scope, rpm, 1, now);

            case LimitKind.InputTokens when limits.InputTokensPerMinute is { } itpm:
                if (estimate > itpm)
                {
                    // Could never fit in a minute's allowance: refuse rather than admit a request that overdraws it.
                    return Refuse(kind, scope, (long)LimitMath.WindowMs, itpm, itpm > 0 ? LimitMath.Remaining(Tat(scope.Scope, kind, now), now, LimitMath.WindowMs / itpm) : 0);
                }

                return CheckRate(kind, scope, itpm, estimate, now);

            case LimitKind.OutputTokens when limits.OutputTokensPerMinute is { } otpm:
                return CheckRate(kind, scope, otpm, 0, now);

            default:
                return null;
        }
    }

    private LimitDecision? CheckRate(LimitKind kind, LimitScope scope, long limit, long cost, double now)
    {
        if (limit <= 0)
        {
            return Refuse(kind, scope, (long)LimitMath.WindowMs, limit, 0);
        }

        var interval = LimitMath.WindowMs / limit;
        var tat = Tat(scope.Scope, kind, now);
        var next = tat + (cost * interval);
        return next - now <= LimitMath.WindowMs + LimitMath.EpsilonMs
            ? null
            : Refuse(kind, scope, LimitMath.CeilMs(next - LimitMath.WindowMs - now), limit, LimitMath.Remaining(tat, now, interval));
    }

    private static LimitDecision Refuse(LimitKind kind, LimitScope scope, long? retryAfterMs, long limit, long remaining) => new()
    {
        Admitted = false,
        Violated = kind,
        Scope = scope.Scope,
        RetryAfter = retryAfterMs is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
        Limit = limit,
        Remaining = remaining,
    };

    /// <summary>The theoretical arrival time, never in the past.</summary>
    private double Tat(string scope, LimitKind kind, double now) => _tats.TryGetValue((scope, kind), out var tat) ? Math.Max(tat, now) : now;

    /// <summary>Moves a TAT by a cost (negative for a correction down), never below now.</summary>
    private void Charge(string scope, LimitKind kind, double costMs, double now)
    {
        var tat = Math.Max(Tat(scope, kind, now) + costMs, now);
        if (tat <= now)
        {
            _tats.Remove((scope, kind));
        }
        else
        {
            _tats[(scope, kind)] = tat;
        }
    }

    private Quota QuotaEntry(string scope, TokenQuota quota, DateTimeOffset now)
    {
        var (suffix, end) = LimitMath.QuotaPeriodOf(quota.Period, now);
        if (!_quotas.TryGetValue((scope, suffix), out var entry))
        {
            _quotas[(scope, suffix)] = entry = new Quota(end);
        }

        return entry;
    }

    /// <summary>Drops what has run out, as Redis TTLs would, so the store does not grow without bound.</summary>
    private void Sweep(double now)
    {
        if (now < _nextSweepMs)
        {
            return;
        }

        _nextSweepMs = now + SweepInterval.TotalMilliseconds;
        foreach (var (key, tat) in _tats)
        {
            if (tat + LimitMath.GcraKeyGraceMs < now)
            {
                _tats.Remove(key);
            }
        }

        foreach (var (scope, leases) in _leases)
        {
            foreach (var (lease, expiry) in leases)
            {
                if (expiry <= now)
                {
                    leases.Remove(lease);
                }
            }

            if (leases.Count == 0)
            {
                _leases.Remove(scope);
            }
        }

        var nowDate = DateTimeOffset.UnixEpoch.AddMilliseconds(now);
        foreach (var (key, quota) in _quotas)
        {
            if (quota.End is { } end && end.AddDays(1) < nowDate)
            {
                _quotas.Remove(key);
            }
        }
    }

    private sealed class Quota(DateTimeOffset? end)
    {
        public DateTimeOffset? End { get; } = end;

        public long Used { get; set; }
    }
}
