using CcxProxy.Forwarding;
using CcxProxy.Hosting;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 2: the body, read once within the size limit (413 beyond it) and scanned once for what routing needs
/// (400 when it is not a request: bad bytes, malformed JSON, no model).
/// </summary>
internal sealed class ReadBodyStage(IOptions<GatewayOptions> options) : IRequestStage
{
    private readonly GatewayOptions _options = options.Value;

    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var http = request.Http;
        var read = await RequestBody.ReadAsync(http.Request, _options.MaxRequestBodyBytes, http.RequestAborted).ConfigureAwait(false);
        if (read.Failed(out var unread, out var json))
        {
            return unread;
        }

        if (RequestJson.Scan(json.Span).Failed(out var notARequest, out var scan))
        {
            return notARequest;
        }

        request.Body = json;
        request.Scan = scan;
        request.Text = LoneSurrogates.Replace(json);
        return await next(request).ConfigureAwait(false);
    }
}
