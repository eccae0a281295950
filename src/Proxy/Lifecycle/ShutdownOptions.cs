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
}
