using CcxProxy.Limits;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 5: the key's and the group's limits and quotas (429, or 402 for a spent quota). An admitted request holds a
/// lease while the rest of the pipeline runs, released with the tokens it really spent. <c>count_tokens</c> is not a
/// model call and is not limited.
/// </summary>
internal sealed class AdmitStage(RequestLimiter limiter, GatewayTelemetry telemetry) : IRequestStage
{
    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var scopes = request.IsCountTokens ? [] : RequestLimiter.ScopesFor(request.Caller, request.Group);
        if (scopes.Count == 0)
        {
            return await next(request).ConfigureAwait(false);
        }

        if ((await limiter.AcquireAsync(request.Http, scopes, request.InputTokenEstimate).ConfigureAwait(false)).Failed(out var refused, out var lease))
        {
            telemetry.RateLimited(request.Record, refused.Status);
            return refused;
        }

        try
        {
            return await next(request).ConfigureAwait(false);
        }
        finally
        {
            lease.Usage = request.Usage;
            await lease.DisposeAsync().ConfigureAwait(false);
        }
    }
}
