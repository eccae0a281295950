using System.Text.Json;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>
/// Legacy <c>POST /v1/completions</c> clients against Anthropic Messages upstreams: the prompt becomes one
/// user message (through the same rules as <see cref="ChatClient"/>), the answer a <c>text_completion</c>.
/// </summary>
public static class CompletionsToMessages
{
    /// <summary>This protocol's client codec, for <see cref="ConversionTable"/>.</summary>
    public static IClientCodec Codec { get; } = new OpenAIClientCodec(ConvertRequest, (message, context) => ConvertResponse(message, context.ClientModel, context.Time),
        context => CreateStreamConverter(context.ClientModel, context.IncludeUsage, context.Time));

    /// <summary>
    /// Completions request → Anthropic Messages request: the prompt as one user message, max_tokens 4096 when
    /// absent (Anthropic requires one), the same refusals as <see cref="CompletionsToChat.ConvertRequest"/>.
    /// </summary>
    /// <param name="completionsRequest">The client's request body.</param>
    /// <param name="options">The channel's decisions.</param>
    /// <returns>The Anthropic request, or the reason it cannot be made.</returns>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> completionsRequest, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return CompletionsRequest.ToChat(completionsRequest, options with { MaxTokensField = "max_tokens" }, defaultMaxTokens: ChatRequestConverter.DefaultMaxTokens)
            .Failed(out var error, out var chat)
            ? error
            : ChatClient.ConvertRequest(chat.Body, options, ChatFieldNames.Completions);
    }

    /// <summary>Anthropic message → <c>text_completion</c> (text blocks joined; thinking and tool calls dropped).</summary>
    /// <param name="anthropicMessage">The upstream's 200 body.</param>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="time">The host's clock, for <c>created</c>.</param>
    /// <returns>The <c>text_completion</c> body.</returns>
    /// <exception cref="JsonException">The body is not an Anthropic message.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, TimeProvider time) =>
        ConvertResponse(anthropicMessage, clientModel, OpenAIWire.UnixNow(time));

    /// <summary>Anthropic SSE → <c>text_completion</c> chunks, the usage chunk when asked for, <c>data: [DONE]</c>.</summary>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="includeUsage">The client's <c>stream_options.include_usage</c>.</param>
    /// <param name="time">The host\'s clock, for <c>created</c>.</param>
    /// <returns>A converter for one response.</returns>
    public static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, TimeProvider time) =>
        CreateStreamConverter(clientModel, includeUsage, OpenAIWire.UnixNow(time), null);

    /// <summary>The same, with <c>created</c> and the fallback id fixed (tests).</summary>
    internal static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, long created, string? fallbackIdSuffix) =>
        new MessagesStreamToChat(OpenAIWire.Shape.TextCompletion, clientModel, includeUsage, created, fallbackIdSuffix);

    /// <summary>The same, with <c>created</c> fixed (tests).</summary>
    internal static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, long created)
    {
        var answer = AnthropicAnswer.Parse(anthropicMessage);
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("id"u8, OpenAIWire.MakeId(OpenAIWire.Shape.TextCompletion, answer.Id));
            json.WriteString("object"u8, "text_completion"u8);
            json.WriteNumber("created"u8, created);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteString("text"u8, answer.Text ?? string.Empty);
            json.WriteNumber("index"u8, 0);
            json.WriteNull("logprobs"u8);
            json.WriteString("finish_reason"u8, OpenAIWire.FinishReason(answer.StopReason, OpenAIWire.Shape.TextCompletion));
            json.WriteEndObject();
            json.WriteEndArray();
            OpenAIWire.WriteUsage(json, answer.Usage);
            json.WriteEndObject();
        });
    }
}
