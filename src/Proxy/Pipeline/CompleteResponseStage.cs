using CcxProxy.Telemetry;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>
/// Ends the response (for a stream, its final chunk) as soon as the answer is written, so that what the stages
/// before it do afterwards (accounting, releasing the limits' lease) is not the client's wait. Also counts the
/// streams open.
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
        if (error is null && !context.RequestAborted.IsCancellationRequested)
        {
            try
            {
                await context.Response.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
            {
                // The client left as the answer ended; the bookkeeping still happens.
            }
        }

        return error;
    }
}
