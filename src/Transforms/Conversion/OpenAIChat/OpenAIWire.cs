using System.Buffers;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// The pieces of the OpenAI wire format (Chat Completions and legacy Completions) that the Anthropic → OpenAI
/// answer converters share: finish reasons, usage objects, ids, JSON writer options.
/// </summary>
internal static class OpenAIWire
{
    /// <summary>
    /// JSON written for API clients, never HTML: CJK, emoji and quotes stay readable (and short) instead of
    /// becoming <c>\uXXXX</c> escapes. Still valid JSON: control characters and quotes are escaped.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    /// <summary>The same rule for documents serialized whole (<see cref="System.Text.Json.Nodes.JsonNode"/>): strings as readable as the client wrote them.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The two OpenAI answer shapes an Anthropic answer can become.</summary>
    public enum Shape
    {
        /// <summary><c>chat.completion</c> / <c>chat.completion.chunk</c>.</summary>
        Chat,

        /// <summary>Legacy <c>text_completion</c> (same object for whole answers and chunks).</summary>
        TextCompletion,
    }

    /// <summary>
    /// Anthropic <c>stop_reason</c> → OpenAI <c>finish_reason</c> (docs/protocols.md §3.2). Unknown or missing values
    /// become <c>stop</c>: an Anthropic value never reaches an OpenAI client (§8 #18). Legacy Completions has
    /// no <c>tool_calls</c> reason (tools do not exist there), so a tool stop is a plain <c>stop</c>.
    /// </summary>
    public static string FinishReason(string? anthropicStopReason, Shape shape) => anthropicStopReason switch
    {
        "max_tokens" or "model_context_window_exceeded" => "length",
        "tool_use" => shape == Shape.Chat ? "tool_calls" : "stop",
        "refusal" => "content_filter",
        _ => "stop",
    };

    /// <summary>
    /// Writes <c>"usage": {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details:{cached_tokens}}</c>.
    /// OpenAI's prompt count includes cached tokens; Anthropic's input count excludes both cache reads and
    /// writes, so they are added back (docs/protocols.md §2.3, §8 #19).
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter json, StreamUsage usage)
    {
        var prompt = usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens;
        json.WriteStartObject("usage"u8);
        json.WriteNumber("prompt_tokens"u8, prompt);
        json.WriteNumber("completion_tokens"u8, usage.OutputTokens);
        json.WriteNumber("total_tokens"u8, prompt + usage.OutputTokens);
        json.WriteStartObject("prompt_tokens_details"u8);
        json.WriteNumber("cached_tokens"u8, usage.CacheReadInputTokens);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Reads an Anthropic <c>usage</c> object into <paramref name="usage"/>; absent fields are left as they are.</summary>
    public static void ReadAnthropicUsage(JsonElement usageElement, StreamUsage usage)
    {
        if (usageElement.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        if (TryGetLong(usageElement, "input_tokens", out var input))
        {
            usage.InputTokens = input;
        }

        if (TryGetLong(usageElement, "output_tokens", out var output))
        {
            usage.OutputTokens = output;
        }

        if (TryGetLong(usageElement, "cache_read_input_tokens", out var read))
        {
            usage.CacheReadInputTokens = read;
        }

        if (TryGetLong(usageElement, "cache_creation_input_tokens", out var created))
        {
            usage.CacheCreationInputTokens = created;
        }
    }

    /// <summary>The id prefix of each answer shape: <c>chatcmpl-</c> or <c>cmpl-</c>.</summary>
    public static string IdPrefix(Shape shape) => shape == Shape.Chat ? "chatcmpl-" : "cmpl-";

    /// <summary>An OpenAI-style id from the upstream's id, or a random one when there is none.</summary>
    public static string MakeId(Shape shape, string? upstreamId) =>
        IdPrefix(shape) + (string.IsNullOrEmpty(upstreamId) ? RandomSuffix() : upstreamId);

    /// <summary>24 random hex digits.</summary>
    public static string RandomSuffix() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>Seconds since the Unix epoch, from <paramref name="time"/>.</summary>
    public static long UnixNow(TimeProvider time) => time.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>A number property as <see cref="long"/>; false when missing or not an integer.</summary>
    public static bool TryGetLong(JsonElement obj, string name, out long value)
    {
        value = 0;
        return obj.ValueKind == JsonValueKind.Object
            && obj.TryGetProperty(name, out var element)
            && element.ValueKind == JsonValueKind.Number
            && element.TryGetInt64(out value);
    }

    /// <summary>A string property, or null when missing or not a string.</summary>
    public static string? GetString(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var element) && element.ValueKind == JsonValueKind.String
            ? element.GetString()
            : null;

    /// <summary>One whole entry of a Chat message's <c>tool_calls</c>: <c>{"id", "type": "function", "function": {"name", "arguments"}}</c>.</summary>
    public static void WriteToolCall(Utf8JsonWriter json, string id, string name, string arguments)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("type"u8, "function"u8);
        json.WriteStartObject("function"u8);
        json.WriteString("name"u8, name);
        json.WriteString("arguments"u8, arguments);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Serialises with <paramref name="write"/> into a fresh array.</summary>
    public static byte[] Write(Action<Utf8JsonWriter> write, int sizeHint = 512)
    {
        var buffer = new ArrayBufferWriter<byte>(sizeHint);
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            write(json);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
