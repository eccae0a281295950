using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>
/// Legacy <c>POST /v1/completions</c> clients against OpenAI Chat Completions upstreams (docs/protocols.md §3.4).
/// </summary>
public static class CompletionsToChat
{
    /// <summary>
    /// <c>{model, prompt, max_tokens, temperature, top_p, stop, stream, stream_options, user, n}</c> → a Chat
    /// Completions request with one user message.
    /// </summary>
    /// <remarks>
    /// <c>prompt</c> must be a string or an array of one string. Refused (400), because the client would not get
    /// what it asked for: token-id prompts (<c>[1,2,3]</c>, <c>[[1,2]]</c>: no tokenizer here), several prompts,
    /// <c>n</c> &gt; 1, <c>best_of</c> &gt; 1, <c>echo: true</c>, a non-empty <c>suffix</c>, and <c>logprobs</c>. Without
    /// <c>max_tokens</c> none is sent: the legacy default of 16 would cut a chat model's answer short, so the upstream's
    /// default applies. When streaming, <c>stream_options.include_usage</c> is requested per
    /// <see cref="ConversionOptions.IncludeStreamUsage"/>.
    /// </remarks>
    /// <param name="completionsRequest">The client's request body.</param>
    /// <param name="options">The channel's decisions.</param>
    /// <returns>The chat request, or the reason it cannot be made.</returns>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> completionsRequest, ConversionOptions options) =>
        CompletionsRequest.ToChat(completionsRequest, options, defaultMaxTokens: null);

    /// <summary>
    /// <c>chat.completion</c> → <c>text_completion</c> <c>{id:"cmpl-…", object, created, model, choices:[{text, index:0,
    /// logprobs:null, finish_reason}], usage}</c>. Reasoning is dropped; <c>tool_calls</c> becomes <c>stop</c>.
    /// </summary>
    /// <param name="chatCompletion">The upstream's 200 body.</param>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="time">The host's clock, for <c>created</c>.</param>
    /// <returns>The <c>text_completion</c> body.</returns>
    /// <exception cref="JsonException">The body is not JSON.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> chatCompletion, string clientModel, TimeProvider time) =>
        ConvertResponse(chatCompletion, clientModel, OpenAIWire.UnixNow(time));

    /// <summary>
    /// <c>chat.completion.chunk</c> SSE → <c>text_completion</c> chunks (constant id, <c>choices[].text</c> deltas,
    /// <c>finish_reason</c> on the last), the usage chunk when <paramref name="includeUsage"/>, then <c>data: [DONE]</c>.
    /// </summary>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="includeUsage">The client's <c>stream_options.include_usage</c>.</param>
    /// <param name="time">The host\'s clock, for <c>created</c>.</param>
    /// <returns>A converter for one response.</returns>
    public static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, TimeProvider time) =>
        new ChatChunksToCompletions(clientModel, includeUsage, OpenAIWire.UnixNow(time), null);

    /// <summary>The same, with <c>created</c> and the fallback id fixed (tests).</summary>
    internal static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, long created, string? fallbackIdSuffix) =>
        new ChatChunksToCompletions(clientModel, includeUsage, created, fallbackIdSuffix);

    /// <summary>The same, with <c>created</c> fixed (tests).</summary>
    internal static byte[] ConvertResponse(ReadOnlySpan<byte> chatCompletion, string clientModel, long created)
    {
        var reader = new Utf8JsonReader(chatCompletion);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        var choice = root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array && choices.GetArrayLength() > 0
            ? choices[0]
            : default;
        var message = choice.ValueKind == JsonValueKind.Object && choice.TryGetProperty("message", out var m) ? m : default;
        var text = OpenAIWire.GetString(message, "content") ?? string.Empty;
        var finish = TextCompletionWire.FinishReason(OpenAIWire.GetString(choice, "finish_reason"));
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("id"u8, TextCompletionWire.IdFromChat(OpenAIWire.GetString(root, "id"), null));
            json.WriteString("object"u8, "text_completion"u8);
            json.WriteNumber("created"u8, created);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteString("text"u8, text);
            json.WriteNumber("index"u8, 0);
            json.WriteNull("logprobs"u8);
            json.WriteString("finish_reason"u8, finish);
            json.WriteEndObject();
            json.WriteEndArray();
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("usage"u8);
                usage.WriteTo(json);
            }

            json.WriteEndObject();
        });
    }
}

/// <summary>Shared bits of the text_completion shape.</summary>
internal static class TextCompletionWire
{
    /// <summary>Chat finish reasons that legacy Completions knows pass; tool calls (no tools here) and anything else are <c>stop</c>.</summary>
    public static string FinishReason(string? chatFinishReason) => chatFinishReason switch
    {
        "length" => "length",
        "content_filter" => "content_filter",
        _ => "stop",
    };

    /// <summary><c>chatcmpl-abc</c> → <c>cmpl-abc</c>; another id → <c>cmpl-</c> + it; none → random (or the given suffix).</summary>
    public static string IdFromChat(string? chatId, string? fallbackSuffix)
    {
        if (string.IsNullOrEmpty(chatId))
        {
            return "cmpl-" + (fallbackSuffix ?? OpenAIWire.RandomSuffix());
        }

        return "cmpl-" + (chatId.StartsWith("chatcmpl-", StringComparison.Ordinal) ? chatId["chatcmpl-".Length..] : chatId);
    }

    /// <summary>Reads an OpenAI usage object into Anthropic terms (input excludes cached tokens: §2.3).</summary>
    public static void ReadOpenAIUsage(JsonElement usage, StreamUsage into)
    {
        OpenAIWire.TryGetLong(usage, "prompt_tokens", out var prompt);
        OpenAIWire.TryGetLong(usage, "completion_tokens", out var completion);
        var details = usage.TryGetProperty("prompt_tokens_details", out var d) ? d : default;
        if (!OpenAIWire.TryGetLong(details, "cached_tokens", out var cached))
        {
            OpenAIWire.TryGetLong(usage, "prompt_cache_hit_tokens", out cached);
        }

        if (!OpenAIWire.TryGetLong(details, "cache_write_tokens", out var written))
        {
            OpenAIWire.TryGetLong(details, "cache_creation_tokens", out written);
        }

        into.CacheReadInputTokens = cached;
        into.CacheCreationInputTokens = written;
        into.InputTokens = Math.Max(0, prompt - cached - written);
        into.OutputTokens = completion;
    }
}
