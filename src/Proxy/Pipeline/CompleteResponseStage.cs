using CcxProxy.Errors;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>
/// Ends the response (for a stream, its final chunk) as soon as the answer, or the error that came back instead, is
/// written, so that what the stages before it do afterwards (releasing the limits' lease, accounting) is not the
/// client's wait. Also counts the streams open.
/// </summary>
internal sealed class CompleteResponseStage(GatewayTelemetry telemetry) : IRequestStage
{
    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        GatewayError? error;
        using (request.Scan.Stream ? telemetry.StreamStarted() : default)
        {
            error = await next(request).ConfigureAwait(false);
        }

        var context = request.Http;
        if (context.RequestAborted.IsCancellationRequested)
        {
            return error;
        }

        try
        {
            if (error is not null)
            {
                // Written here, before the lease is released, rather than by the endpoint afterwards: the
                // endpoint's own write then finds the response started and does nothing.
                await GatewayErrors.WriteAsync(context, error).ConfigureAwait(false);
            }

            await context.Response.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            // The client left as the answer ended; the bookkeeping still happens.
        }

        return error;
    }
}
