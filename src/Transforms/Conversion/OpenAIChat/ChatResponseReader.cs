using System.Buffers;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// OpenAI <c>chat.completion</c> → Anthropic <c>message</c> (docs/protocols.md §2.1–2.3). Content order is
/// thinking → text → tool_use, as Claude itself answers (llms appends thinking last: §8 #34).
/// </summary>
internal static class ChatResponseReader
{
    public static byte[] Convert(ReadOnlySpan<byte> completion, string clientModel, ToolNameMap toolNames, string messageId)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(completion);
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            return Protocols.ErrorBodies.Anthropic("api_error", $"the upstream answered with malformed JSON: {ex.Message}", null);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Protocols.ErrorBodies.Anthropic("api_error", "the upstream answer is not a JSON object", null);
            }

            if (root.TryGetProperty("error", out var error) && error.ValueKind is JsonValueKind.Object or JsonValueKind.String)
            {
                // An error in a 200 body (some gateways do this): the caller gets Anthropic's error shape.
                return Protocols.ErrorBodies.Anthropic(ChatMapping.MapErrorType(error), ChatMapping.ErrorMessage(error), null);
            }

            var choice = default(JsonElement);
            if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0)
            {
                choice = choices[0];
            }

            var message = choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("message", out var m) ? m : default;
            var usage = new StreamUsage();
            if (root.TryGetProperty("usage", out var usageElement))
            {
                ChatMapping.ReadUsage(usageElement, usage);
            }

            var buffer = new ArrayBufferWriter<byte>(Math.Max(256, completion.Length));
            using (var w = new Utf8JsonWriter(buffer, ChatMapping.WriterOptions))
            {
                Write(w, choice, message, usage, clientModel, toolNames, messageId);
            }

            return buffer.WrittenSpan.ToArray();
        }
    }

    private static void Write(Utf8JsonWriter w, JsonElement choice, JsonElement message, StreamUsage usage, string clientModel, ToolNameMap toolNames, string messageId)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, messageId);
        w.WriteString("type"u8, "message");
        w.WriteString("role"u8, "assistant");
        w.WriteString("model"u8, clientModel);
        w.WriteStartArray("content"u8);

        var hasMessage = message.ValueKind == JsonValueKind.Object;
        if (hasMessage && ReadReasoning(message) is { Length: > 0 } reasoning)
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "thinking");
            w.WriteString("thinking"u8, reasoning);

            // A marker, not an Anthropic signature: see GatewayThinking.
            w.WriteString("signature"u8, GatewayThinking.Signature);
            w.WriteEndObject();
        }

        if (hasMessage && ReadContentText(message) is { Length: > 0 } text)
        {
            WriteTextBlock(w, text);
        }

        var refusal = hasMessage ? ChatMapping.GetString(message, "refusal") : null;
        if (!string.IsNullOrEmpty(refusal))
        {
            WriteTextBlock(w, refusal);
        }

        var toolCalls = 0;
        if (hasMessage && message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            foreach (var call in calls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object && call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
                {
                    WriteToolUse(w, ChatMapping.GetString(call, "id"), function, toolNames, messageId, toolCalls++);
                }
            }
        }
        else if (hasMessage && message.TryGetProperty("function_call", out var legacy) && legacy.ValueKind == JsonValueKind.Object)
        {
            WriteToolUse(w, null, legacy, toolNames, messageId, toolCalls++);
        }

        w.WriteEndArray();

        var finishReason = choice.ValueKind == JsonValueKind.Object ? ChatMapping.GetString(choice, "finish_reason") : null;
        var (stopReason, stopSequence) = !string.IsNullOrEmpty(refusal)
            ? ("refusal", null)
            : ChatMapping.MapFinishReason(finishReason, toolCalls > 0, MatchedStop(choice));
        w.WriteString("stop_reason"u8, stopReason);
        if (stopSequence is null)
        {
            w.WriteNull("stop_sequence"u8);
        }
        else
        {
            w.WriteString("stop_sequence"u8, stopSequence);
        }

        w.WriteStartObject("usage"u8);
        w.WriteNumber("input_tokens"u8, usage.InputTokens);
        w.WriteNumber("output_tokens"u8, usage.OutputTokens);
        w.WriteNumber("cache_creation_input_tokens"u8, usage.CacheCreationInputTokens);
        w.WriteNumber("cache_read_input_tokens"u8, usage.CacheReadInputTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteTextBlock(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "text");
        w.WriteString("text"u8, text);
        w.WriteEndObject();
    }

    private static void WriteToolUse(Utf8JsonWriter w, string? id, JsonElement function, ToolNameMap toolNames, string messageId, int ordinal)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "tool_use");
        w.WriteString("id"u8, ToolUseId(id, messageId, ordinal));
        w.WriteString("name"u8, toolNames.ToClient(ChatMapping.GetString(function, "name") ?? string.Empty));
        w.WritePropertyName("input"u8);
        ChatMapping.WriteToolInput(w, ArgumentsText(function));
        w.WriteEndObject();
    }

    /// <summary>
    /// The Anthropic id of a tool call: the upstream's, sanitised (§8 #8), or, when it sent none, one
    /// derived from the message id, so the same answer always gets the same ids.
    /// </summary>
    public static string ToolUseId(string? upstreamId, string messageId, int ordinal) =>
        !string.IsNullOrEmpty(upstreamId)
            ? AnthropicToolId.Sanitize(upstreamId)
            : AnthropicToolId.Sanitize($"toolu_{(messageId.StartsWith("msg_", StringComparison.Ordinal) ? messageId[4..] : messageId)}_{ordinal}");

    /// <summary><c>function.arguments</c> as text; some servers send an object instead of a JSON string.</summary>
    public static string? ArgumentsText(JsonElement function)
    {
        if (!function.TryGetProperty("arguments", out var arguments))
        {
            return null;
        }

        return arguments.ValueKind switch
        {
            JsonValueKind.String => arguments.GetString(),
            JsonValueKind.Object or JsonValueKind.Array => arguments.GetRawText(),
            _ => null,
        };
    }

    /// <summary>The stop sequence the upstream matched: vLLM <c>stop_reason</c> or SGLang <c>matched_stop</c>, when a string.</summary>
    public static string? MatchedStop(JsonElement choice) =>
        choice.ValueKind != JsonValueKind.Object
            ? null
            : ChatMapping.GetString(choice, "stop_reason") ?? ChatMapping.GetString(choice, "matched_stop");

    /// <summary>
    /// Reasoning text: DeepSeek/vLLM <c>reasoning_content</c>, else OpenRouter <c>reasoning</c>, else the
    /// text of <c>reasoning_details</c> (OpenRouter sends the same text in both of the last two).
    /// </summary>
    public static string? ReadReasoning(JsonElement messageOrDelta)
    {
        if (ChatMapping.GetString(messageOrDelta, "reasoning_content") is { Length: > 0 } content)
        {
            return content;
        }

        if (ChatMapping.GetString(messageOrDelta, "reasoning") is { Length: > 0 } reasoning)
        {
            return reasoning;
        }

        if (!messageOrDelta.TryGetProperty("reasoning_details", out var details) || details.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        StringBuilder? builder = null;
        foreach (var detail in details.EnumerateArray())
        {
            if ((ChatMapping.GetString(detail, "text") ?? ChatMapping.GetString(detail, "summary")) is { Length: > 0 } text)
            {
                (builder ??= new StringBuilder()).Append(text);
            }
        }

        return builder?.ToString();
    }

    /// <summary><c>content</c> as text: a string, or the text parts of an array (some servers send parts).</summary>
    public static string? ReadContentText(JsonElement messageOrDelta)
    {
        if (!messageOrDelta.TryGetProperty("content", out var content))
        {
            return null;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString();
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        StringBuilder? builder = null;
        foreach (var part in content.EnumerateArray())
        {
            if (ChatMapping.GetString(part, "type") == "text" && ChatMapping.GetString(part, "text") is { Length: > 0 } text)
            {
                (builder ??= new StringBuilder()).Append(text);
            }
        }

        return builder?.ToString();
    }
}
