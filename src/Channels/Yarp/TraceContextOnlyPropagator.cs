using System.Diagnostics;

namespace CcxProxy.Channels;

/// <summary>
/// Injects W3C trace context (<c>traceparent</c>, <c>tracestate</c>) and nothing else: baggage is free-form
/// data the caller attached to its trace, and has no business reaching a provider.
/// </summary>
internal sealed class TraceContextOnlyPropagator(DistributedContextPropagator inner) : DistributedContextPropagator
{
    private static readonly string[] s_fields = ["traceparent", "tracestate"];

    public override IReadOnlyCollection<string> Fields => s_fields;

    public override void Inject(Activity? activity, object? carrier, PropagatorSetterCallback? setter)
    {
        if (setter is null)
        {
            return;
        }

        inner.Inject(activity, carrier, (c, name, value) =>
        {
            if (string.Equals(name, "traceparent", StringComparison.OrdinalIgnoreCase) || string.Equals(name, "tracestate", StringComparison.OrdinalIgnoreCase))
            {
                setter(c, name, value);
            }
        });
    }

    public override void ExtractTraceIdAndState(object? carrier, PropagatorGetterCallback? getter, out string? traceId, out string? traceState) =>
        inner.ExtractTraceIdAndState(carrier, getter, out traceId, out traceState);

    public override IEnumerable<KeyValuePair<string, string?>>? ExtractBaggage(object? carrier, PropagatorGetterCallback? getter) => null;
}
