using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Errors;

/// <summary>Tells a request's protocol from its path and headers.</summary>
public static class ClientProtocols
{
    /// <summary>
    /// OpenAI for <c>/v1/chat/completions</c>, <c>/v1/completions</c> and <c>/v1/responses</c>; for <c>/v1/models</c>, OpenAI unless
    /// the request carries <c>anthropic-version</c>; Anthropic otherwise.
    /// </summary>
    public static WireProtocol Of(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/v1/chat") || path.StartsWithSegments("/v1/completions") || path.StartsWithSegments("/v1/responses"))
        {
            return WireProtocol.OpenAI;
        }

        if (path.StartsWithSegments("/v1/models"))
        {
            return request.Headers.ContainsKey("anthropic-version") ? WireProtocol.Anthropic : WireProtocol.OpenAI;
        }

        return WireProtocol.Anthropic;
    }
}
