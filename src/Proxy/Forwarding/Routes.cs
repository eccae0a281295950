using CcxProxy.Channels;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.Completions;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Forwarding;

/// <summary>
/// For each pair of client API and channel protocol: the upstream path, the request body to send and
/// the plan that turns the answer back into the client's protocol. The one table of what converts to what.
/// </summary>
internal static class Routes
{
    public const string AnthropicMessagesPath = "/v1/messages";
    public const string AnthropicCountTokensPath = "/v1/messages/count_tokens";

    // OpenAI base URLs carry their version segment (https://api.deepseek.com/v1), as the OpenAI SDK takes them.
    public const string OpenAIChatPath = "/chat/completions";

    /// <summary>The upstream call for <paramref name="api"/> on <paramref name="channel"/>, or the 400 that says why the request cannot be converted.</summary>
    /// <param name="api">The inbound API.</param>
    /// <param name="channel">The attempt's channel.</param>
    /// <param name="body">The body as the client sent it: what passthrough forwards.</param>
    /// <param name="text">The same body with lone surrogates replaced (<see cref="LoneSurrogates"/>): what conversion reads.</param>
    /// <param name="scan">The scan of <paramref name="body"/>.</param>
    /// <param name="settings">What every attempt of the request shares.</param>
    public static GatewayResult<UpstreamCall> Build(InboundApi api, ChannelConfig channel, ReadOnlyMemory<byte> body, ReadOnlyMemory<byte> text,
        in RequestScan scan, CallSettings settings)
    {
        var clientModel = scan.Model!;
        var options = new ConversionOptions
        {
            UpstreamModel = channel.MapModel(clientModel),
            MaxTokensLimit = channel.MaxTokens,
            MaxTokensField = channel.MaxTokensField,
            IncludeStreamUsage = channel.StreamUsage,
            PassBackReasoning = channel.PassBackReasoning,
            StripClaudeCodeAttribution = channel.StripClaudeCodeAttribution,
        };
        var clamp = scan.MaxTokens > channel.MaxTokens ? channel.MaxTokens : null;
        var requestId = settings.RequestId;
        var includeUsage = scan.IncludeUsage;

        switch (api, channel.Type)
        {
            case (InboundApi.Messages or InboundApi.CountTokens, WireProtocol.Anthropic):
            {
                var upstreamBody = RequestJson.Rewrite(body, scan, options.UpstreamModel, clamp, options.StripClaudeCodeAttribution);
                return settings.Call(channel, api == InboundApi.Messages ? AnthropicMessagesPath : AnthropicCountTokensPath,
                    ThinkingSanitizer.StripGatewayThinking(upstreamBody), clientModel, WireProtocol.Anthropic, WireProtocol.Anthropic, keepQuery: true,
                    new ResponsePlan
                    {
                        MapError = (status, error) => UpstreamErrors.AnthropicInShape(status, error, channel.Name, requestId),
                        ConvertJson = json => RequestJson.ReplaceModelIfPresent(json, clientModel),
                        CreateStreamConverter = () => new AnthropicPassthroughStream(clientModel),
                    });
            }

            case (InboundApi.Messages, WireProtocol.OpenAI):
            {
                var converted = ChatUpstream.ConvertRequest(text.Span, options);
                if (converted.Error is not null)
                {
                    return new GatewayError(StatusCodes.Status400BadRequest, converted.Error);
                }

                var estimate = settings.InputTokens();
                return settings.Call(channel, OpenAIChatPath, converted.Body!, clientModel, WireProtocol.Anthropic, WireProtocol.OpenAI, keepQuery: false,
                    new ResponsePlan
                    {
                        MapError = (status, error) => ErrorMapping.OpenAIToAnthropic(status, error.Span, requestId),
                        ConvertJson = json => ChatUpstream.ConvertResponse(json.Span, clientModel, converted.ToolNames),
                        CreateStreamConverter = () => ChatUpstream.CreateStreamConverter(clientModel, converted.ToolNames, estimate),
                    });
            }

            case (InboundApi.ChatCompletions, WireProtocol.OpenAI):
            {
                // Same protocol: forwarded as sent, with the model mapped; streamed through as it arrives.
                var upstreamBody = RequestJson.Rewrite(body, scan, options.UpstreamModel, clamp);
                return settings.Call(channel, OpenAIChatPath, upstreamBody, clientModel, WireProtocol.OpenAI, WireProtocol.OpenAI, keepQuery: true,
                    new ResponsePlan
                    {
                        MapError = (status, error) => UpstreamErrors.OpenAIInShape(status, error, channel.Name),
                        ConvertJson = json => RequestJson.ReplaceModelIfPresent(json, clientModel),
                        CreateStreamConverter = () => new ChatPassthroughStream(clientModel),
                    });
            }

            case (InboundApi.ChatCompletions, WireProtocol.Anthropic):
            {
                var converted = ChatClient.ConvertRequest(text.Span, options);
                if (converted.Error is not null)
                {
                    return new GatewayError(StatusCodes.Status400BadRequest, converted.Error);
                }

                return settings.Call(channel, AnthropicMessagesPath, converted.Body!, clientModel, WireProtocol.OpenAI, WireProtocol.Anthropic, keepQuery: false,
                    new ResponsePlan
                    {
                        MapError = (status, error) => ErrorMapping.AnthropicToOpenAI(status, error.Span),
                        ConvertJson = json => ChatClient.ConvertResponse(json.Span, clientModel, settings.Time),
                        CreateStreamConverter = () => ChatClient.CreateStreamConverter(clientModel, includeUsage, settings.Time),
                    });
            }

            case (InboundApi.Completions, WireProtocol.OpenAI):
            {
                var converted = CompletionsToChat.ConvertRequest(text.Span, options);
                if (converted.Error is not null)
                {
                    return new GatewayError(StatusCodes.Status400BadRequest, converted.Error);
                }

                return settings.Call(channel, OpenAIChatPath, converted.Body!, clientModel, WireProtocol.OpenAI, WireProtocol.OpenAI, keepQuery: false,
                    new ResponsePlan
                    {
                        MapError = (status, error) => UpstreamErrors.OpenAIInShape(status, error, channel.Name),
                        ConvertJson = json => CompletionsToChat.ConvertResponse(json.Span, clientModel, settings.Time),
                        CreateStreamConverter = () => CompletionsToChat.CreateStreamConverter(clientModel, includeUsage, settings.Time),
                    });
            }

            case (InboundApi.Completions, WireProtocol.Anthropic):
            {
                var converted = CompletionsToMessages.ConvertRequest(text.Span, options);
                if (converted.Error is not null)
                {
                    return new GatewayError(StatusCodes.Status400BadRequest, converted.Error);
                }

                return settings.Call(channel, AnthropicMessagesPath, converted.Body!, clientModel, WireProtocol.OpenAI, WireProtocol.Anthropic, keepQuery: false,
                    new ResponsePlan
                    {
                        MapError = (status, error) => ErrorMapping.AnthropicToOpenAI(status, error.Span),
                        ConvertJson = json => CompletionsToMessages.ConvertResponse(json.Span, clientModel, settings.Time),
                        CreateStreamConverter = () => CompletionsToMessages.CreateStreamConverter(clientModel, includeUsage, settings.Time),
                    });
            }

            default:
                throw new InvalidOperationException($"no route for {api} on a {channel.Type} channel");
        }
    }
}

/// <summary>What every upstream call of one request shares.</summary>
internal sealed record CallSettings(string? RequestId, int MaxResponseBytes, TimeSpan PingInterval, CancellationToken DrainDeadline = default)
{
    /// <summary>The host's clock.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>The request's input-token estimate, worked out once per request however many attempts read it.</summary>
    public required Func<long> InputTokens { get; init; }

    /// <summary>True when another candidate can take over if this attempt fails before answering.</summary>
    public bool MayFailOver { get; init; }

    /// <summary>The channel's key for this attempt (chosen by the route plan).</summary>
    public required UpstreamKey Key { get; init; }

    /// <summary>Records this attempt's answer for the response cache; null when it is not to be kept.</summary>
    public ResponseCapture? Capture { get; init; }

    public UpstreamCall Call(ChannelConfig channel, string path, ReadOnlyMemory<byte> body, string clientModel,
        WireProtocol client, WireProtocol upstream, bool keepQuery, ResponsePlan plan) => new()
    {
        Body = body,
        UpstreamPath = path,
        ClientModel = clientModel,
        UpstreamKey = Key.Value,
        Auth = channel.Auth,
        Headers = channel.Headers,
        IdleTimeout = channel.Timeouts.Idle,
        FirstContentTimeout = channel.Timeouts.FirstContent,
        PingInterval = PingInterval,
        MaxResponseBytes = MaxResponseBytes,
        RequestId = RequestId,
        ChannelName = channel.Name,
        WireProtocol = client,
        UpstreamProtocol = upstream,
        KeepQuery = keepQuery,
        MayFailOver = MayFailOver,
        DrainDeadline = DrainDeadline,
        Capture = Capture,
        Plan = plan,
        Time = Time,
    };
}
