using CcxProxy.Channels.Health;

namespace CcxProxy.Routing;

/// <summary>Settings under <c>Routing</c> in appsettings.json (see docs/configuration.md).</summary>
public sealed class RoutingOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Routing";

    /// <summary>
    /// Keep one conversation on the same channel, key and destination while they are healthy, so upstream
    /// prompt caches hit (default true). The conversation is Claude Code's <c>X-Claude-Code-Session-Id</c>,
    /// else the session in <c>metadata.user_id</c>, else a hash of the first messages.
    /// </summary>
    public bool SessionAffinity { get; set; } = true;

    /// <summary>How often each replica reads the cooldowns the others published, in seconds (default 1).</summary>
    public double CooldownSyncSeconds { get; set; } = 1;

    /// <summary><see cref="CooldownSyncSeconds"/> as the code uses it.</summary>
    public TimeSpan CooldownSync => TimeSpan.FromSeconds(CooldownSyncSeconds);

    /// <summary>The circuit breakers of channels, upstream keys and destinations.</summary>
    public BreakerSettings Breaker { get; set; } = new();
}

/// <summary>Circuit-breaker settings in seconds, as they are written in appsettings.json (<c>Routing:Breaker</c>).</summary>
public sealed class BreakerSettings
{
    private static readonly BreakerOptions s_defaults = new();

    /// <summary>Failures in a row that open a breaker (default 5).</summary>
    public int ConsecutiveFailures { get; set; } = s_defaults.ConsecutiveFailures;

    /// <summary>Distinct callers (key and client address) whose failures it takes to open a breaker (default 2).</summary>
    public int MinimumCallers { get; set; } = s_defaults.MinimumCallers;

    /// <summary>Share of failed attempts within the window that opens a breaker (default 0.5).</summary>
    public double FailureRatio { get; set; } = s_defaults.FailureRatio;

    /// <summary>Attempts within the window before the ratio is judged (default 10).</summary>
    public int MinimumAttempts { get; set; } = s_defaults.MinimumAttempts;

    /// <summary>The sliding window, in seconds (default 60).</summary>
    public double WindowSeconds { get; set; } = s_defaults.Window.TotalSeconds;

    /// <summary>First open period, doubled each time the probe fails, in seconds (default 5).</summary>
    public double BaseCooldownSeconds { get; set; } = s_defaults.BaseCooldown.TotalSeconds;

    /// <summary>Longest open period, and the cap on an upstream's <c>retry-after</c>, in seconds (default 300).</summary>
    public double MaxCooldownSeconds { get; set; } = s_defaults.MaxCooldown.TotalSeconds;

    /// <summary>How long a key refused with 401/403 is left out before a probe, in seconds (default 300).</summary>
    public double KeyRejectedCooldownSeconds { get; set; } = s_defaults.KeyRejectedCooldown.TotalSeconds;

    /// <summary>Longest a refused key is left out between probes, in seconds (default 3600).</summary>
    public double MaxKeyRejectedCooldownSeconds { get; set; } = s_defaults.MaxKeyRejectedCooldown.TotalSeconds;

    /// <summary>A probe that has not reported after this long is presumed lost, in seconds (default 60).</summary>
    public double ProbeTimeoutSeconds { get; set; } = s_defaults.ProbeTimeout.TotalSeconds;

    /// <summary>The options the breakers use; throws when a value is out of range.</summary>
    public BreakerOptions ToOptions()
    {
        var options = new BreakerOptions
        {
            ConsecutiveFailures = ConsecutiveFailures,
            MinimumCallers = MinimumCallers,
            FailureRatio = FailureRatio,
            MinimumAttempts = MinimumAttempts,
            Window = TimeSpan.FromSeconds(WindowSeconds),
            BaseCooldown = TimeSpan.FromSeconds(BaseCooldownSeconds),
            MaxCooldown = TimeSpan.FromSeconds(MaxCooldownSeconds),
            KeyRejectedCooldown = TimeSpan.FromSeconds(KeyRejectedCooldownSeconds),
            MaxKeyRejectedCooldown = TimeSpan.FromSeconds(MaxKeyRejectedCooldownSeconds),
            ProbeTimeout = TimeSpan.FromSeconds(ProbeTimeoutSeconds),
        };
        options.Validate();
        return options;
    }
}
