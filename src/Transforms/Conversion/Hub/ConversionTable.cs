using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.Completions;
using CcxProxy.Transforms.Conversion.Gemini;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// The one table of what converts to what (docs/architecture.md, "The protocol matrix"). Anthropic Messages is
/// the hub: a client protocol converts to and from Messages (<see cref="IClientCodec"/>), an upstream protocol
/// from and to Messages (<see cref="IUpstreamCodec"/>), and any pair without a direct route is the two chained
/// through Messages. Adding a protocol adds one codec per side it can play, not one converter per pair.
/// </summary>
public static class ConversionTable
{
    // Routes that skip the hub: the same protocol on both sides, and the tuned Completions → Chat shortcut
    // (through the hub it would send Anthropic's required max_tokens default and lose the upstream's answer id).
    private static readonly Dictionary<(InboundApi, WireProtocol), IDirectRoute> s_direct = new()
    {
        [(InboundApi.Messages, WireProtocol.Anthropic)] = MessagesPassthrough.Instance,
        [(InboundApi.CountTokens, WireProtocol.Anthropic)] = MessagesPassthrough.Instance,
        [(InboundApi.ChatCompletions, WireProtocol.OpenAI)] = ChatPassthrough.Instance,
        [(InboundApi.Completions, WireProtocol.OpenAI)] = CompletionsOnChat.Instance,
        [(InboundApi.Responses, WireProtocol.Responses)] = ResponsesPassthrough.Instance,
        [(InboundApi.ResponsesInputTokens, WireProtocol.Responses)] = ResponsesPassthrough.Instance,
        [(InboundApi.GenerateContent, WireProtocol.Gemini)] = GeminiPassthrough.Instance,
        [(InboundApi.StreamGenerateContent, WireProtocol.Gemini)] = GeminiPassthrough.Instance,
        [(InboundApi.GeminiCountTokens, WireProtocol.Gemini)] = GeminiPassthrough.Instance,
    };

    // The client protocols that are not Messages. Messages itself needs no codec; a count request (count_tokens,
    // Responses' input_tokens, Gemini's countTokens) is only ever forwarded to its own protocol's upstream (the
    // gateway estimates it for the others before routing).
    private static readonly Dictionary<InboundApi, IClientCodec> s_clients = new()
    {
        [InboundApi.ChatCompletions] = ChatClient.Codec,
        [InboundApi.Completions] = CompletionsToMessages.Codec,
        [InboundApi.Responses] = ResponsesClient.Codec,
        [InboundApi.GenerateContent] = GeminiClient.Codec,
        [InboundApi.StreamGenerateContent] = GeminiClient.Codec,
    };

    // The channel types that do not speak Messages.
    private static readonly Dictionary<WireProtocol, IUpstreamCodec> s_upstreams = new()
    {
        [WireProtocol.OpenAI] = ChatUpstreamCodec.Instance,
        [WireProtocol.Responses] = ResponsesUpstream.Codec,
        [WireProtocol.Gemini] = GeminiUpstream.Codec,
    };

    /// <summary>The upstream call for a request on a channel of type <paramref name="upstream"/>, or the 400 that says why it cannot be converted.</summary>
    /// <param name="api">The API the client called.</param>
    /// <param name="upstream">The channel's protocol.</param>
    /// <param name="request">The client's body and its scan.</param>
    /// <param name="context">The request's conversion context.</param>
    /// <exception cref="InvalidOperationException">The pair has no route (count_tokens on a channel that does not speak Messages).</exception>
    public static GatewayResult<ConversionRoute> Route(InboundApi api, WireProtocol upstream, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        return s_direct.TryGetValue((api, upstream), out var direct)
            ? direct.Route(api, request, context)
            : ThroughHub(api, upstream, request, context);
    }

    /// <summary>The route through Messages, even for a pair that has a direct one (tests compare the two).</summary>
    /// <param name="api">The API the client called.</param>
    /// <param name="upstream">The channel's protocol.</param>
    /// <param name="request">The client's body and its scan.</param>
    /// <param name="context">The request's conversion context.</param>
    internal static GatewayResult<ConversionRoute> ThroughHub(InboundApi api, WireProtocol upstream, ConversionRequest request, ConversionContext context)
    {
        var client = s_clients.GetValueOrDefault(api);
        var upstreamCodec = s_upstreams.GetValueOrDefault(upstream);
        var clientIsHub = api == InboundApi.Messages;
        var upstreamIsHub = upstream == WireProtocol.Anthropic;
        return (client, upstreamCodec) switch
        {
            (null, not null) when clientIsHub => ToUpstream(upstreamCodec, request, context),
            (not null, null) when upstreamIsHub => FromClient(client, request, context),
            (not null, not null) => Chained(client, upstreamCodec, request, context),
            _ => throw new InvalidOperationException($"no route for {api} on a {upstream} channel"),
        };
    }

    /// <summary>True when a request of <paramref name="api"/> can be served by a channel of type <paramref name="upstream"/>.</summary>
    /// <param name="api">The API the client called.</param>
    /// <param name="upstream">The channel's protocol.</param>
    public static bool Serves(InboundApi api, WireProtocol upstream) =>
        s_direct.ContainsKey((api, upstream))
        || ((api == InboundApi.Messages || s_clients.ContainsKey(api)) && (upstream == WireProtocol.Anthropic || s_upstreams.ContainsKey(upstream)));

    // A Messages client on another protocol's upstream: one codec.
    private static GatewayResult<ConversionRoute> ToUpstream(IUpstreamCodec upstream, ConversionRequest request, ConversionContext context)
    {
        if (upstream.FromMessages(request.Text.Span, context).Failed(out var error, out var converted))
        {
            return error;
        }

        var toolNames = converted.ToolNames;
        return new ConversionRoute(upstream.Path(context, request.Scan.Stream), converted.Body, KeepQuery: false, new ResponsePlan
        {
            MapError = (status, body) => upstream.ErrorToMessages(status, body.Span, context),
            ConvertJson = json =>
            {
                // An upstream failure under 200 comes back from the codec as an Anthropic error body.
                var message = upstream.AnswerToMessages(json.Span, toolNames, context);
                return new ConvertedAnswer(message, UpstreamFailed: ErrorBodies.IsAnthropicError(message));
            },
            CreateStreamConverter = () => upstream.StreamToMessages(toolNames, context),
        });
    }

    // Another protocol's client on a Messages upstream: one codec.
    private static GatewayResult<ConversionRoute> FromClient(IClientCodec client, ConversionRequest request, ConversionContext context)
    {
        if (client.ToMessages(request.Text.Span, context).Failed(out var error, out var converted))
        {
            return error;
        }

        return new ConversionRoute(MessagesPassthrough.MessagesPath, converted.Body, KeepQuery: false, new ResponsePlan
        {
            MapError = (status, body) => client.ErrorFromMessages(status, body.Span, context),
            ConvertJson = json => client.AnswerFromMessages(json.Span, context),
            CreateStreamConverter = () => client.StreamFromMessages(context),
            StreamContentType = StreamContentType(context),
        });
    }

    // Neither side speaks Messages: the client's codec to Messages, then the upstream's from it, and back.
    internal static GatewayResult<ConversionRoute> Chained(IClientCodec client, IUpstreamCodec upstream, ConversionRequest request, ConversionContext context)
    {
        if (client.ToMessages(request.Text.Span, context).Failed(out var error, out var hub)
            || upstream.FromMessages(hub.Body, context).Failed(out error, out var converted))
        {
            return error;
        }

        var toolNames = converted.ToolNames;
        return new ConversionRoute(upstream.Path(context, request.Scan.Stream), converted.Body, KeepQuery: false, new ResponsePlan
        {
            MapError = (status, body) =>
            {
                var (hubStatus, hubError) = upstream.ErrorToMessages(status, body.Span, context);
                return client.ErrorFromMessages(hubStatus, hubError, context);
            },
            ConvertJson = json =>
            {
                var message = upstream.AnswerToMessages(json.Span, toolNames, context);

                // An upstream answer that was not one (an error object in a 200) comes back as an Anthropic error body.
                return ErrorBodies.IsAnthropicError(message)
                    ? new ConvertedAnswer(client.ErrorFromMessages(502, message, context).Body, UpstreamFailed: true)
                    : client.AnswerFromMessages(message, context);
            },
            CreateStreamConverter = () => new ChainedStreamConverter(upstream.StreamToMessages(toolNames, context), client.StreamFromMessages(context)),
            StreamContentType = StreamContentType(context),
        });
    }

    // A Gemini client's JSON-array stream is JSON; every other stream is Server-Sent Events.
    private static string? StreamContentType(ConversionContext context) => context.JsonArrayStream ? "application/json; charset=utf-8" : null;
}
