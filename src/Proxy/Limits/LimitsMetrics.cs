using System.Diagnostics.Metrics;

namespace CcxProxy.Limits;

/// <summary>The limiter's metrics, on the meter <c>CcxProxy.Limits</c>.</summary>
internal sealed class LimitsMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "CcxProxy.Limits";

    /// <summary>Decisions taken in memory because Redis did not answer.</summary>
    public const string FallbacksInstrument = "ccx.limits.redis_fallbacks";

    /// <summary>1 while limits are decided in Redis, 0 while degraded to memory.</summary>
    public const string AvailableInstrument = "ccx.limits.redis_available";

    private readonly Counter<long> _fallbacks;

    /// <summary>Creates the instruments.</summary>
    public LimitsMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        _fallbacks = Meter.CreateCounter<long>(FallbacksInstrument, unit: "{call}", description: "Limit store calls answered in memory because Redis was unavailable or too slow.");
    }

    /// <summary>The meter (tests listen to this instance).</summary>
    public Meter Meter { get; }

    /// <summary>Observes Redis availability through <paramref name="available"/>.</summary>
    public void ObserveAvailability(Func<bool> available) =>
        Meter.CreateObservableGauge(AvailableInstrument, () => available() ? 1 : 0, unit: "{state}", description: "1 when rate limits are shared through Redis, 0 when this replica decides them in memory.");

    /// <summary>Counts one call answered in memory.</summary>
    public void Fallback(string operation)
    {
        if (_fallbacks.Enabled)
        {
            _fallbacks.Add(1, new KeyValuePair<string, object?>("operation", operation));
        }
    }
}
