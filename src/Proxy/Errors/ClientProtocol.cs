using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Errors;

/// <summary>Tells a request's protocol from its path and headers.</summary>
public static class ClientProtocols
{
    /// <summary>
    /// Gemini for <c>/v1beta/…</c> and for a Gemini method under <c>/v1/models/</c> (<c>…:generateContent</c>); OpenAI for
    /// <c>/v1/chat/completions</c>, <c>/v1/completions</c> and <c>/v1/responses</c>; for <c>/v1/models</c>, Gemini when the
    /// request carries Google's key header, its <c>key</c> parameter or <c>x-goog-api-client</c>, Anthropic when it
    /// carries <c>anthropic-version</c>, else OpenAI; Anthropic otherwise.
    /// </summary>
    public static WireProtocol Of(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/v1beta"))
        {
            return WireProtocol.Gemini;
        }

        if (path.StartsWithSegments("/v1/chat") || path.StartsWithSegments("/v1/completions") || path.StartsWithSegments("/v1/responses"))
        {
            return WireProtocol.OpenAI;
        }

        if (path.StartsWithSegments("/v1/models"))
        {
            if (IsGemini(request))
            {
                return WireProtocol.Gemini;
            }

            return request.Headers.ContainsKey("anthropic-version") ? WireProtocol.Anthropic : WireProtocol.OpenAI;
        }

        return WireProtocol.Anthropic;
    }

    private static bool IsGemini(HttpRequest request) =>
        (request.Path.Value ?? string.Empty).Contains(':', StringComparison.Ordinal)
        || request.Headers.ContainsKey("x-goog-api-key")
        || request.Headers.ContainsKey("x-goog-api-client")
        || request.Query.ContainsKey("key");
}
