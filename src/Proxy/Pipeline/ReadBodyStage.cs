using CcxProxy.Forwarding;
using CcxProxy.Hosting;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 2: the body, read once within the size limit (413 beyond it) and scanned once for what routing needs
/// (400 when it is not a request: bad bytes, malformed JSON, no model).
/// </summary>
internal sealed class ReadBodyStage(IOptions<GatewayOptions> options) : IRequestStep
{
    private readonly GatewayOptions _options = options.Value;

    public async ValueTask<GatewayError?> RunAsync(ForwardedRequest request)
    {
        var http = request.Http;
        var read = await RequestBody.ReadAsync(http.Request, _options.MaxRequestBodyBytes, http.RequestAborted).ConfigureAwait(false);
        if (read.Failed(out var unread, out var json))
        {
            return unread;
        }

        var scanned = request.Gemini is { } gemini ? RequestJson.Scan(json.Span, gemini.Model) : RequestJson.Scan(json.Span);
        if (scanned.Failed(out var notARequest, out var scan))
        {
            return notARequest;
        }

        if (request.Gemini is { } target)
        {
            // Gemini says in its URL what other APIs say in the body.
            scan = scan with { Stream = request.Api == InboundApi.StreamGenerateContent, JsonArrayStream = target.JsonArrayStream };
        }

        request.Body = json;
        request.Scan = scan;
        request.Text = LoneSurrogates.Replace(json);
        return null;
    }
}
