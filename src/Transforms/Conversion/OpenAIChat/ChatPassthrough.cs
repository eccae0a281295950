using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// OpenAI Chat Completions on an <c>openai</c> channel: the body forwarded as sent, with the model mapped and
/// max_tokens clamped to the channel's limit; the answer streamed through as it arrives.
/// </summary>
public sealed class ChatPassthrough : IDirectRoute
{
    private ChatPassthrough()
    {
    }

    /// <summary>The one instance (the route holds no state).</summary>
    public static ChatPassthrough Instance { get; } = new();

    /// <inheritdoc/>
    public GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var body = RequestJson.Rewrite(request.Body, request.Scan, context.Options.UpstreamModel, Passthrough.Clamp(request.Scan, context.Options));
        var clientModel = context.ClientModel;
        return new ConversionRoute(ChatUpstreamCodec.ChatPath, body, KeepQuery: true, new ResponsePlan
        {
            MapError = (status, error) => UpstreamErrors.OpenAIInShape(status, error, context.ChannelName),
            ConvertJson = json => RequestJson.ReplaceModelIfPresent(json, clientModel),
            CreateStreamConverter = () => new ChatPassthroughStream(clientModel),
        });
    }
}
