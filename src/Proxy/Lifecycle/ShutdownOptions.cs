using Microsoft.Extensions.Options;

namespace CcxProxy.Lifecycle;

/// <summary>Graceful shutdown on SIGTERM (<c>Shutdown</c> section), sized for Kubernetes rollouts.</summary>
public sealed class ShutdownOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Shutdown";

    /// <summary>
    /// After SIGTERM, readiness turns false at once but new requests are still served this long, while the
    /// endpoint removal propagates to Services and ingresses. Default 5 s.
    /// </summary>
    public double DelaySeconds { get; set; } = 5;

    /// <summary>
    /// Then requests and streams in flight get this long to finish; those still running end with an error
    /// in their protocol (an <c>event: error</c> for streams). Default 60 s. Keep
    /// <c>DelaySeconds + DrainSeconds</c> under the pod's <c>terminationGracePeriodSeconds</c>.
    /// </summary>
    public double DrainSeconds { get; set; } = 60;

    /// <summary><see cref="DelaySeconds"/> as the code uses it.</summary>
    public TimeSpan Delay => TimeSpan.FromSeconds(DelaySeconds);

    /// <summary><see cref="DrainSeconds"/> as the code uses it.</summary>
    public TimeSpan Drain => TimeSpan.FromSeconds(DrainSeconds);
}

/// <summary>Checks the <c>Shutdown</c> section when the gateway starts.</summary>
public sealed class ShutdownOptionsValidation : IValidateOptions<ShutdownOptions>
{
    /// <summary>The longest delay or drain accepted: a day, far beyond any pod's grace period.</summary>
    private const double MaxSeconds = 24 * 3600;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, ShutdownOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        foreach (var (setting, value) in new[] { ("DelaySeconds", options.DelaySeconds), ("DrainSeconds", options.DrainSeconds) })
        {
            if (!(value is >= 0 and <= MaxSeconds))
            {
                failures.Add($"{ShutdownOptions.Section}:{setting} must be from 0 to {MaxSeconds} (was {value})");
            }
        }

        return failures.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(failures);
    }
}
