using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Gemini on a <c>gemini</c> channel: the body forwarded byte for byte (so every <c>thoughtSignature</c> and
/// <c>safetySettings</c> goes as the client sent it; only a <c>maxOutputTokens</c> above the channel's <c>maxTokens</c>
/// is lowered), to the channel's model in the path; streams always asked for as
/// SSE and given to the client in the framing it asked for. Nothing of the client's query goes upstream (its
/// <c>key</c> above all): the path carries the only query the upstream needs.
/// </summary>
public sealed class GeminiPassthrough : IDirectRoute
{
    private GeminiPassthrough()
    {
    }

    /// <summary>The one instance (the route holds no state).</summary>
    public static GeminiPassthrough Instance { get; } = new();

    /// <inheritdoc/>
    public GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var method = api switch
        {
            InboundApi.StreamGenerateContent => "streamGenerateContent",
            InboundApi.GeminiCountTokens => "countTokens",
            _ => "generateContent",
        };
        var jsonArray = context.JsonArrayStream;
        var body = api == InboundApi.GeminiCountTokens
            ? GeminiClient.CountTokensForModel(request.Body, context.Options.UpstreamModel)
            : Passthrough.ClampOutputTokens(request.Body, context.Options.MaxTokensLimit, ("generationConfig", "generation_config"), ("maxOutputTokens", "max_output_tokens"));
        return new ConversionRoute(GeminiWire.MethodPath(context.Options.UpstreamModel, method), body, KeepQuery: false, new ResponsePlan
        {
            MapError = (status, error) => UpstreamErrors.GoogleInShape(status, error, context.ChannelName),
            ConvertJson = json => json,
            CreateStreamConverter = () => new GeminiPassthroughStream(jsonArray),
            StreamContentType = jsonArray ? "application/json; charset=utf-8" : null,
        });
    }
}
