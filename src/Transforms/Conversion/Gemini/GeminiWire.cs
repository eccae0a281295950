using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// What both sides of Gemini conversion share: reading fields under either of the names the API accepts
/// (<c>inlineData</c> or <c>inline_data</c>), finish reasons, usage, and the paths of the Generative Language API.
/// </summary>
internal static class GeminiWire
{
    private static readonly ConcurrentDictionary<string, string> s_snake = new(StringComparer.Ordinal);

    /// <summary>The path of a model's method under a Gemini base URL (https://generativelanguage.googleapis.com).</summary>
    /// <param name="model">The upstream model.</param>
    /// <param name="method"><c>generateContent</c>, <c>streamGenerateContent</c> or <c>countTokens</c>.</param>
    public static string MethodPath(string model, string method) =>
        "/v1beta/models/" + Uri.EscapeDataString(model.StartsWith("models/", StringComparison.Ordinal) ? model["models/".Length..] : model)
        + ":" + method + (method == "streamGenerateContent" ? "?alt=sse" : string.Empty);

    /// <summary>
    /// True for a <c>finishReason</c> that means the model's turn broke (a function call Gemini could not parse, or one
    /// it was not offered): an error for the client, never a quiet end of turn.
    /// </summary>
    public static bool IsBrokenFinish(string? finishReason) => finishReason is "MALFORMED_FUNCTION_CALL" or "UNEXPECTED_TOOL_CALL";

    /// <summary>
    /// A field of <paramref name="element"/> under its JSON name (<c>inlineData</c>) or its proto name (<c>inline_data</c>):
    /// Google's API reads both, and its own examples use either.
    /// </summary>
    public static bool TryGet(JsonElement element, string name, out JsonElement value)
    {
        value = default;
        if (element.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        return element.TryGetProperty(name, out value) || (Snake(name) is var snake && snake != name && element.TryGetProperty(snake, out value));
    }

    /// <summary>
    /// A JSON number, or a string holding one (Google's JSON mapping takes <c>"1000"</c> for a number field, and its
    /// 64-bit integers are strings); null for anything else. Finite values only.
    /// </summary>
    public static double? Number(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number when value.TryGetDouble(out var number) && double.IsFinite(number) => number,
        JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) => number,
        _ => null,
    };

    /// <summary>A string field under either name; null when absent or not a string.</summary>
    public static string? GetString(JsonElement element, string name) =>
        TryGet(element, name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>An Anthropic stop reason as Gemini's <c>finishReason</c>.</summary>
    public static string FinishReason(string? anthropicStopReason) => anthropicStopReason switch
    {
        "max_tokens" or "model_context_window_exceeded" => "MAX_TOKENS",
        "refusal" => "SAFETY",
        _ => "STOP",
    };

    /// <summary>Gemini's <c>finishReason</c> as an Anthropic stop reason; a turn that called tools ends in <c>tool_use</c>.</summary>
    public static string StopReason(string? finishReason, bool calledTools) => finishReason switch
    {
        "MAX_TOKENS" => "max_tokens",
        "SAFETY" or "RECITATION" or "BLOCKLIST" or "PROHIBITED_CONTENT" or "SPII" or "IMAGE_SAFETY" => "refusal",
        _ => calledTools ? "tool_use" : "end_turn",
    };

    /// <summary>
    /// <c>usageMetadata</c> in Anthropic's terms: Gemini counts cached tokens inside <c>promptTokenCount</c>
    /// (as <c>cachedContentTokenCount</c>) and thinking apart from the answer (<c>thoughtsTokenCount</c>).
    /// </summary>
    /// <param name="usageMetadata">The <c>usageMetadata</c> object.</param>
    /// <param name="usage">Where the counts go (a stream's running usage, read again at every chunk that has it).</param>
    public static StreamUsage ReadUsage(JsonElement usageMetadata, StreamUsage usage)
    {
        var cached = Number(usageMetadata, "cachedContentTokenCount");
        usage.InputTokens = Math.Max(0, Number(usageMetadata, "promptTokenCount") + Number(usageMetadata, "toolUsePromptTokenCount") - cached);
        usage.OutputTokens = Number(usageMetadata, "candidatesTokenCount") + Number(usageMetadata, "thoughtsTokenCount");
        usage.CacheReadInputTokens = cached;
        return usage;
    }

    /// <summary>Anthropic usage as <c>usageMetadata</c>: cached and cache-written tokens counted inside the prompt.</summary>
    public static void WriteUsage(Utf8JsonWriter json, StreamUsage usage)
    {
        var prompt = usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens;
        json.WriteStartObject("usageMetadata"u8);
        json.WriteNumber("promptTokenCount"u8, prompt);
        json.WriteNumber("candidatesTokenCount"u8, usage.OutputTokens);
        json.WriteNumber("totalTokenCount"u8, prompt + usage.OutputTokens);
        if (usage.CacheReadInputTokens > 0)
        {
            json.WriteNumber("cachedContentTokenCount"u8, usage.CacheReadInputTokens);
        }

        json.WriteEndObject();
    }

    /// <summary>A fresh <c>responseId</c> for an answer the gateway wrote.</summary>
    public static string NewResponseId() => OpenAIWire.RandomSuffix();

    /// <summary>The <c>responseId</c> for an Anthropic message id (<c>msg_X</c> → <c>X</c>); a fresh one when there is none.</summary>
    public static string ResponseId(string? messageId) =>
        messageId is { Length: > 0 } id ? (id.StartsWith("msg_", StringComparison.Ordinal) ? id[4..] : id) : NewResponseId();

    /// <summary>The Anthropic message id for a Gemini <c>responseId</c> (<c>X</c> → <c>msg_X</c>); a fresh one when there is none.</summary>
    public static string MessageId(string? responseId) => "msg_" + (responseId ?? NewResponseId());

    // A usage count, or 0 when absent or not a number (usage never fails an answer).
    private static long Number(JsonElement element, string name) =>
        TryGet(element, name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) ? number : 0;

    private static string Snake(string name) => s_snake.GetOrAdd(name, static camel =>
    {
        var snake = new StringBuilder(camel.Length + 4);
        foreach (var c in camel)
        {
            if (char.IsAsciiLetterUpper(c))
            {
                snake.Append('_').Append(char.ToLowerInvariant(c));
            }
            else
            {
                snake.Append(c);
            }
        }

        return snake.ToString();
    });
}
