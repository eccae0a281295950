using CcxProxy.Keys;

namespace CcxProxy.Limits;

/// <summary>Which limit refused a request.</summary>
public enum LimitKind
{
    /// <summary>Requests per minute.</summary>
    Requests,

    /// <summary>Input tokens per minute.</summary>
    InputTokens,

    /// <summary>Output tokens per minute.</summary>
    OutputTokens,

    /// <summary>Requests in flight.</summary>
    Concurrency,

    /// <summary>The token quota (answered with 402, not 429).</summary>
    Quota,
}

/// <summary>The limits of one scope (a key or a group), as the limiter applies them.</summary>
/// <param name="Scope">A stable name: <c>key:ID</c> or <c>group:NAME</c>. Used in storage keys and headers, never secret.</param>
/// <param name="Limits">The limits; scopes without any are not passed to the limiter.</param>
public sealed record LimitScope(string Scope, CallerLimits Limits);

/// <summary>The outcome of <see cref="ILimitStore.AcquireAsync"/>.</summary>
public sealed record LimitDecision
{
    /// <summary>An admission with nothing to report.</summary>
    public static LimitDecision Admit { get; } = new() { Admitted = true };

    /// <summary>Refused because the shared store cannot decide now (Redis away, and the gateway fails closed).</summary>
    public static LimitDecision Unavailable { get; } = new() { IsUnavailable = true, RetryAfter = TimeSpan.FromSeconds(1) };

    /// <summary>True when the store could not decide (see <see cref="Unavailable"/>).</summary>
    public bool IsUnavailable { get; init; }

    /// <summary>True when every limit of every scope allowed the request (and it was recorded).</summary>
    public bool Admitted { get; init; }

    /// <summary>The limit that refused it.</summary>
    public LimitKind? Violated { get; init; }

    /// <summary>The scope whose limit refused it.</summary>
    public string? Scope { get; init; }

    /// <summary>When a retry can succeed (rate limits); for a quota, when the period renews (or null for a total quota).</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>The refusing limit's size (or, when admitted, the tightest request limit, for rate-limit headers).</summary>
    public long? Limit { get; init; }

    /// <summary>What is left of <see cref="Limit"/>.</summary>
    public long? Remaining { get; init; }
}

/// <summary>
/// Rate limits, concurrency slots and quotas, decided atomically for all scopes of a request at once:
/// a request is admitted only if every limit allows it, and nothing is recorded when one refuses.
/// Implementations: Redis (one Lua script per decision, time from Redis so replicas agree) and in memory;
/// both pass the same contract tests.
/// </summary>
public interface ILimitStore
{
    /// <summary>
    /// Decides one request. When admitted: counts one request per minute, reserves
    /// <paramref name="estimatedInputTokens"/> against input tokens per minute and against the quota,
    /// and takes a concurrency slot named <paramref name="leaseId"/> (held until <see cref="ReleaseAsync"/>,
    /// or until it expires unless renewed, so a dead replica frees its slots). Output tokens per minute and
    /// the quota refuse a request once already exhausted; output is charged when known (release).
    /// </summary>
    Task<LimitDecision> AcquireAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, CancellationToken cancellationToken);

    /// <summary>
    /// The request ended (success, failure or client gone): frees its concurrency slots and corrects the
    /// token counters and quota by the real usage: <paramref name="actualInputTokens"/> replaces the
    /// estimate, <paramref name="actualOutputTokens"/> is added. A failed request passes 0 and 0, which
    /// releases the reservation.
    /// </summary>
    Task ReleaseAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, long actualInputTokens, long actualOutputTokens, CancellationToken cancellationToken);

    /// <summary>Extends the concurrency slots of a long request (a stream) so they do not expire while it runs.</summary>
    Task RenewAsync(IReadOnlyList<LimitScope> scopes, string leaseId, CancellationToken cancellationToken);
}
