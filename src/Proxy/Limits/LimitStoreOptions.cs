namespace CcxProxy.Limits;

/// <summary>Tuning of the limit stores; the defaults are the production values, tests shorten them.</summary>
internal sealed record LimitStoreOptions
{
    /// <summary>How long a concurrency slot lives unless renewed (so a dead replica frees its slots).</summary>
    public TimeSpan LeaseTtl { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest a request waits on Redis before the fail-open store decides in memory.</summary>
    public TimeSpan RedisTimeout { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>While degraded, how often one call probes Redis again (the others stay in memory).</summary>
    public TimeSpan RedisRetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Decide each scope of a request by its own script call (with a rollback when a later scope refuses), as on
    /// Redis Cluster, even on a single Redis. Off: chosen from the server (per scope only on a cluster). For tests.
    /// </summary>
    public bool ForcePerScopeScripts { get; init; }
}
