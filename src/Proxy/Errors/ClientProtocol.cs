
namespace CcxProxy.Errors;

/// <summary>Which API the caller speaks, and so which error shape it reads.</summary>
public enum ClientProtocol
{
    /// <summary>Anthropic Messages (<c>/v1/messages</c>) and everything not OpenAI-specific.</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions and Completions.</summary>
    OpenAI,
}

/// <summary>Tells a request's protocol from its path and headers.</summary>
public static class ClientProtocols
{
    /// <summary>
    /// OpenAI for <c>/v1/chat/completions</c> and <c>/v1/completions</c>; for <c>/v1/models</c>, OpenAI unless
    /// the request carries <c>anthropic-version</c>; Anthropic otherwise.
    /// </summary>
    public static ClientProtocol Of(HttpRequest request)
    {
        var path = request.Path;
        if (path.StartsWithSegments("/v1/chat") || path.StartsWithSegments("/v1/completions"))
        {
            return ClientProtocol.OpenAI;
        }

        if (path.StartsWithSegments("/v1/models"))
        {
            return request.Headers.ContainsKey("anthropic-version") ? ClientProtocol.Anthropic : ClientProtocol.OpenAI;
        }

        return ClientProtocol.Anthropic;
    }
}
