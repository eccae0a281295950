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
        ReadOnlyMemory<byte>? body;
        try
        {
            body = await RequestBody.ReadAsync(http.Request, _options.MaxRequestBodyBytes, http.RequestAborted).ConfigureAwait(false);
        }
        catch (MalformedBodyException ex)
        {
            return new GatewayError(StatusCodes.Status400BadRequest, $"the request body could not be read: {ex.Message}");
        }

        if (body is not { } json)
        {
            return new GatewayError(StatusCodes.Status413PayloadTooLarge, $"request body is larger than the gateway's limit of {_options.MaxRequestBodyBytes} bytes");
        }

        var scan = RequestJson.Scan(json.Span);
        if (scan.Model is null)
        {
            return new GatewayError(StatusCodes.Status400BadRequest, scan.Error!);
        }

        request.Body = json;
        request.Scan = scan;
        request.Text = LoneSurrogates.Replace(json);
        return await next(request).ConfigureAwait(false);
    }
}
