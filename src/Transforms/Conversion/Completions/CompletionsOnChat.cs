using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>
/// Legacy Completions clients on an <c>openai</c> channel, converted directly (<see cref="CompletionsToChat"/>) rather
/// than through Messages: the hub would add Anthropic's required max_tokens where the client set none, and answer
/// with an id of its own instead of the upstream's.
/// </summary>
public sealed class CompletionsOnChat : IDirectRoute
{
    private CompletionsOnChat()
    {
    }

    /// <summary>The one instance (the route holds no state).</summary>
    public static CompletionsOnChat Instance { get; } = new();

    /// <inheritdoc/>
    public GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (CompletionsToChat.ConvertRequest(request.Text.Span, context.Options).Failed(out var error, out var converted))
        {
            return error;
        }

        var clientModel = context.ClientModel;
        return new ConversionRoute(ChatUpstreamCodec.ChatPath, converted.Body, KeepQuery: false, new ResponsePlan
        {
            MapError = (status, body) => UpstreamErrors.OpenAIInShape(status, body, context.ChannelName),
            ConvertJson = json => CompletionsToChat.ConvertResponse(json.Span, clientModel, context.Time),
            CreateStreamConverter = () => CompletionsToChat.CreateStreamConverter(clientModel, context.IncludeUsage, context.Time),
        });
    }
}
