using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Anthropic;

/// <summary>
/// Anthropic Messages (and count_tokens) on an Anthropic channel: the body forwarded as sent, with the model mapped,
/// max_tokens clamped to the channel's limit, Claude Code's attribution block stripped when the channel asks, and
/// the gateway's own thinking blocks removed; the answer streamed through as it arrives.
/// </summary>
public sealed class MessagesPassthrough : IDirectRoute
{
    /// <summary>The Messages path under an Anthropic base URL.</summary>
    public const string MessagesPath = "/v1/messages";

    /// <summary>The token-counting path under an Anthropic base URL.</summary>
    public const string CountTokensPath = "/v1/messages/count_tokens";

    private MessagesPassthrough()
    {
    }

    /// <summary>The one instance (the route holds no state).</summary>
    public static MessagesPassthrough Instance { get; } = new();

    /// <inheritdoc/>
    public GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var options = context.Options;
        var body = RequestJson.Rewrite(request.Body, request.Scan, options.UpstreamModel, Passthrough.Clamp(request.Scan, options), options.StripClaudeCodeAttribution);
        var clientModel = context.ClientModel;
        return new ConversionRoute(api == InboundApi.CountTokens ? CountTokensPath : MessagesPath, ThinkingSanitizer.StripGatewayThinking(body), KeepQuery: true,
            new ResponsePlan
            {
                MapError = (status, error) => UpstreamErrors.AnthropicInShape(status, error, context.ChannelName, context.RequestId),
                ConvertJson = json => RequestJson.ReplaceModelIfPresent(json, clientModel),
                CreateStreamConverter = () => new AnthropicPassthroughStream(clientModel),
            });
    }
}
