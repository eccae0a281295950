using CcxProxy.Errors;
using CcxProxy.Forwarding;
using CcxProxy.Pipeline;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Endpoints;

/// <summary>
/// Google's Gemini API at the gateway's root, as the Gemini CLI and Google's SDKs call it
/// (<c>GOOGLE_GEMINI_BASE_URL</c> = the gateway): <c>POST /v1beta/models/{model}:generateContent</c>,
/// <c>:streamGenerateContent</c> (SSE with <c>alt=sse</c>, else a streamed JSON array) and <c>:countTokens</c>, the
/// same under <c>/v1/models/</c>, and the model list (<see cref="ModelsEndpoint"/>). A method the gateway does not
/// serve (embeddings, batches, cached contents) is a 404 in Google's shape.
/// </summary>
internal static class GeminiEndpoints
{
    public static IEndpointRouteBuilder MapGemini(this IEndpointRouteBuilder endpoints)
    {
        var forwarding = endpoints.ServiceProvider.GetRequiredService<ForwardingEndpoint>();
        endpoints.MapPost("/v1beta/models/{**target}", (string target, HttpContext context) => HandleAsync(forwarding, target, context));
        endpoints.MapPost("/v1/models/{**target}", (string target, HttpContext context) => HandleAsync(forwarding, target, context));
        return endpoints;
    }

    private static Task HandleAsync(ForwardingEndpoint forwarding, string target, HttpContext context)
    {
        // "gemini-2.5-pro:streamGenerateContent": the method after the last colon (model names have none).
        var colon = target.LastIndexOf(':');
        var model = colon > 0 ? target[..colon] : string.Empty;
        var method = colon > 0 ? target[(colon + 1)..] : string.Empty;
        InboundApi? api = method switch
        {
            "generateContent" => InboundApi.GenerateContent,
            "streamGenerateContent" => InboundApi.StreamGenerateContent,
            "countTokens" => InboundApi.GeminiCountTokens,
            _ => null,
        };
        if (api is null || model.Length == 0)
        {
            var message = model.Length == 0
                ? $"no such endpoint: POST {context.Request.Path}. Gemini's are /v1beta/models/{{model}}:generateContent, :streamGenerateContent and :countTokens"
                : $"the gateway does not serve the Gemini method '{method}': it serves generateContent, streamGenerateContent and countTokens";
            return GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status404NotFound, message));
        }

        var jsonArray = api == InboundApi.StreamGenerateContent && !string.Equals(context.Request.Query["alt"], "sse", StringComparison.OrdinalIgnoreCase);
        return forwarding.HandleGeminiAsync(context, api.Value, new GeminiTarget(model, jsonArray));
    }
}
