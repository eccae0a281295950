using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Errors;

/// <summary>
/// Answers a request with a <see cref="GatewayError"/>: the response is reset to the gateway's own headers
/// (<see cref="GatewayHeaders"/>), and the error is rendered by the one writer (<see cref="ErrorResponse"/>) in the
/// caller's protocol (docs/protocols.md §5).
/// </summary>
public static class GatewayErrors
{
    /// <summary>Writes the error unless the response has already started (then there is nothing to do).</summary>
    public static Task WriteAsync(HttpContext context, GatewayError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var response = context.Response;
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }

        GatewayHeaders.Reset(context);
        if (Telemetry.RequestRecord.Of(context) is { } record)
        {
            // The error's own code, else the failure an attempt named (more telling than the status's type).
            record.ErrorType = error.Code ?? record.ErrorType ?? ErrorBodies.AnthropicType(error.Status);
        }

        var requestId = RequestIds.Get(context);
        return ErrorResponse.WriteAsync(response, ClientProtocols.Of(context.Request), error, requestId, context.RequestAborted);
    }
}
