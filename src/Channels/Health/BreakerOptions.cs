namespace CcxProxy.Channels.Health;

/// <summary>
/// Circuit-breaker and cooldown settings, the same for every channel, upstream key and destination
/// (host section <c>Routing:Breaker</c>; see docs/configuration.md).
/// </summary>
public sealed record BreakerOptions
{
    /// <summary>Failures in a row that open a breaker (default 5).</summary>
    public int ConsecutiveFailures { get; init; } = 5;

    /// <summary>
    /// Distinct callers whose failures it takes to open a breaker (default 2, at most 10): one caller's requests
    /// alone never shut a channel for everyone, since a failure can follow from what a request holds. 1 opens on
    /// anyone's failures, as a single-user gateway may want.
    /// </summary>
    public int MinimumCallers { get; init; } = 2;

    /// <summary>Share of failed attempts within <see cref="Window"/> that opens a breaker (default 0.5).</summary>
    public double FailureRatio { get; init; } = 0.5;

    /// <summary>Attempts within <see cref="Window"/> before <see cref="FailureRatio"/> is judged (default 10).</summary>
    public int MinimumAttempts { get; init; } = 10;

    /// <summary>The sliding window for the failure ratio and the recent error classes (default 60 s).</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a breaker stays open the first time; doubled each time its probe fails (default 5 s).</summary>
    public TimeSpan BaseCooldown { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest a breaker stays open, and the cap on an upstream's <c>retry-after</c> (default 300 s).</summary>
    public TimeSpan MaxCooldown { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>
    /// How long an upstream key refused with 401/403 is left out before one request probes it again; doubled
    /// each time the probe is refused too, up to <see cref="MaxKeyRejectedCooldown"/> (default 5 min).
    /// </summary>
    public TimeSpan KeyRejectedCooldown { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The longest a refused key is left out between probes (default 1 h).</summary>
    public TimeSpan MaxKeyRejectedCooldown { get; init; } = TimeSpan.FromHours(1);

    /// <summary>A half-open probe that has not reported after this long is presumed lost and another may go (default 60 s).</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Throws when a value is out of range (the host validates at start-up).</summary>
    public void Validate()
    {
        if (ConsecutiveFailures < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(ConsecutiveFailures), ConsecutiveFailures, "must be at least 1");
        }

        if (MinimumCallers is < 1 or > 10)
        {
            throw new ArgumentOutOfRangeException(nameof(MinimumCallers), MinimumCallers, "must be from 1 to 10");
        }

        if (!(FailureRatio is > 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(FailureRatio), FailureRatio, "must be more than 0 and at most 1");
        }

        if (MinimumAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MinimumAttempts), MinimumAttempts, "must be at least 1");
        }

        foreach (var (name, value) in new[]
                 {
                     (nameof(Window), Window), (nameof(BaseCooldown), BaseCooldown), (nameof(MaxCooldown), MaxCooldown),
                     (nameof(KeyRejectedCooldown), KeyRejectedCooldown), (nameof(MaxKeyRejectedCooldown), MaxKeyRejectedCooldown),
                     (nameof(ProbeTimeout), ProbeTimeout),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value, "must be more than 0");
            }
        }
    }
}
