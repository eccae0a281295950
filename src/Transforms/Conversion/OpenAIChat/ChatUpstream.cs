using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// Conversion for an Anthropic Messages client (Claude Code, the Anthropic SDKs) served by an OpenAI Chat
/// Completions upstream (DeepSeek, Kimi, GLM, OpenRouter, vLLM, Ollama): the request one way, the answer,
/// streamed or not, the other (docs/protocols.md §1, §2). Pure functions over UTF-8 JSON; no I/O.
/// </summary>
public static class ChatUpstream
{
    /// <summary>Anthropic Messages request (client) → OpenAI Chat Completions request (upstream). docs/protocols.md §1.</summary>
    /// <param name="messagesRequest">The client's <c>POST /v1/messages</c> body.</param>
    /// <param name="options">The channel's choices (upstream model, max_tokens limit, reasoning pass-back, ...).</param>
    /// <returns>The upstream body and the tool-name map, or the 400 (<see cref="ConvertedRequest.Refused"/>) that says why not.</returns>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> messagesRequest, ConversionOptions options) =>
        ChatRequestBuilder.Convert(messagesRequest, options);

    /// <summary>OpenAI <c>chat.completion</c> (upstream, not streamed) → Anthropic <c>message</c> (client). §2.1–2.3.</summary>
    /// <param name="chatCompletion">The upstream's 200 body.</param>
    /// <param name="clientModel">The model name the client asked for; it goes in <c>model</c>.</param>
    /// <param name="toolNames">The map from <see cref="ConvertedRequest.ToolNames"/>, to restore long tool names.</param>
    /// <param name="messageId">The message id; null makes <c>msg_</c> + random characters.</param>
    /// <returns>
    /// The Anthropic message as UTF-8 JSON; for a body that is not a completion (malformed, or an
    /// <c>error</c> object in a 200), an Anthropic error body instead.
    /// </returns>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> chatCompletion, string clientModel, ToolNameMap toolNames, string? messageId = null)
    {
        ArgumentNullException.ThrowIfNull(clientModel);
        ArgumentNullException.ThrowIfNull(toolNames);
        return ChatResponseReader.Convert(chatCompletion, clientModel, toolNames, messageId ?? ChatMapping.NewMessageId());
    }

    /// <summary>OpenAI SSE (data-only chunks, <c>data: [DONE]</c>) → Anthropic SSE events. §2.4.</summary>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="toolNames">The map from <see cref="ConvertedRequest.ToolNames"/>.</param>
    /// <param name="estimatedInputTokens">
    /// The input tokens to announce in <c>message_start</c>, before the upstream reports usage (for
    /// example <see cref="EstimateInputTokens"/> of the request); the real count follows in <c>message_delta</c>.
    /// </param>
    /// <returns>A converter for one response.</returns>
    public static IStreamConverter CreateStreamConverter(string clientModel, ToolNameMap toolNames, long estimatedInputTokens = 0) =>
        new ChatToMessagesStream(clientModel, toolNames, estimatedInputTokens, ChatMapping.NewMessageId());

    /// <summary>
    /// A local <b>estimate</b> of the input tokens of a <c>POST /v1/messages/count_tokens</c> request, for
    /// channels whose upstream has no such endpoint (§4): the UTF-8 bytes of the text in <c>system</c>,
    /// <c>messages</c> and the tools' names, descriptions and schemas, divided by 4, plus a flat 1,600 per
    /// image or document; at least 1. Not a tokenizer: it can be off by tens of percent either way.
    /// </summary>
    /// <param name="countTokensRequest">The request body.</param>
    /// <returns>The estimate, for <c>{"input_tokens": N}</c>.</returns>
    /// <exception cref="FormatException">The body is not a JSON object.</exception>
    public static long EstimateInputTokens(ReadOnlySpan<byte> countTokensRequest)
    {
        if (!TryEstimateInputTokens(countTokensRequest, out var tokens))
        {
            throw new FormatException("The count_tokens request is not a JSON object.");
        }

        return tokens;
    }

    /// <summary>As <see cref="EstimateInputTokens"/>, without throwing on a malformed body.</summary>
    /// <param name="countTokensRequest">The request body.</param>
    /// <param name="tokens">The estimate; 0 when the body is not a JSON object with a <c>messages</c> array.</param>
    /// <returns>False when the body is not a JSON object with a <c>messages</c> array.</returns>
    public static bool TryEstimateInputTokens(ReadOnlySpan<byte> countTokensRequest, out long tokens)
    {
        tokens = 0;
        try
        {
            var reader = new Utf8JsonReader(countTokensRequest);
            using var document = JsonDocument.ParseValue(ref reader);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            {
                return false;
            }

            tokens = ChatRequestBuilder.EstimateTokens(document.RootElement);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
