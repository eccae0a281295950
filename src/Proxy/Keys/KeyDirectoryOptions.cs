namespace CcxProxy.Keys;

/// <summary>Tuning of <see cref="KeyDirectory"/>.</summary>
internal sealed record KeyDirectoryOptions
{
    /// <summary>The longest <see cref="CacheTtl"/> allowed: a revoke must reach every replica within 5 s.</summary>
    public static readonly TimeSpan MaxCacheTtl = TimeSpan.FromSeconds(3);

    /// <summary>How long an answer from the store (found or unknown) is reused. Default 2 s, at most 3 s.</summary>
    public TimeSpan CacheTtl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a store read may take before the lookup gives up on it. Default 2 s.</summary>
    public TimeSpan StoreTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// While the store fails, a key seen within this long keeps its last answer (so an outage of Redis
    /// does not log every caller out). Default 5 minutes; zero disables it.
    /// </summary>
    public TimeSpan StaleWhenUnavailable { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Most cached answers; past it, new answers are not cached (a flood of bad keys cannot grow memory). Default 100 000.</summary>
    public int MaxEntries { get; init; } = 100_000;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        if (CacheTtl <= TimeSpan.Zero || CacheTtl > MaxCacheTtl)
        {
            throw new ArgumentOutOfRangeException(nameof(CacheTtl), CacheTtl, $"must be more than 0 and at most {MaxCacheTtl.TotalSeconds} s");
        }

        if (StoreTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StoreTimeout), StoreTimeout, "must be more than 0");
        }

        if (StaleWhenUnavailable < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(StaleWhenUnavailable), StaleWhenUnavailable, "must not be negative");
        }

        if (MaxEntries < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxEntries), MaxEntries, "must be at least 1");
        }
    }
}
