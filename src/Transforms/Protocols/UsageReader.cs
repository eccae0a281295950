using System.Text.Json;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// Reads token usage from a whole (non-streamed) answer in any protocol, in Anthropic's terms:
/// input excludes cached tokens (docs/protocols.md §2.3). Streams report usage through their converter.
/// </summary>
public static class UsageReader
{
    /// <summary>The usage of an answer body, or null when it has none.</summary>
    public static StreamUsage? Read(WireProtocol protocol, ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            if (protocol == WireProtocol.Gemini)
            {
                // Gemini's is usageMetadata, with cached tokens inside the prompt count.
                return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("usageMetadata", out var metadata)
                    ? Conversion.Gemini.GeminiWire.ReadUsage(metadata, new StreamUsage())
                    : null;
            }

            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (protocol == WireProtocol.Anthropic)
            {
                return new StreamUsage
                {
                    InputTokens = Number(usage, "input_tokens"),
                    OutputTokens = Number(usage, "output_tokens"),
                    CacheReadInputTokens = Number(usage, "cache_read_input_tokens"),
                    CacheCreationInputTokens = Number(usage, "cache_creation_input_tokens"),
                };
            }

            return FromOpenAI(usage);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// An OpenAI <c>usage</c> object in Anthropic's terms: Chat Completions' <c>prompt_tokens</c> and
    /// <c>completion_tokens</c>, or a Responses answer's <c>input_tokens</c> and <c>output_tokens</c>; cached input
    /// (counted inside the input there) kept apart.
    /// </summary>
    /// <param name="usage">The <c>usage</c> object.</param>
    public static StreamUsage FromOpenAI(JsonElement usage)
    {
        var responses = usage.TryGetProperty("input_tokens", out _);
        var cached = usage.TryGetProperty(responses ? "input_tokens_details" : "prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
            ? Number(details, "cached_tokens")
            : Number(usage, "prompt_cache_hit_tokens");
        return new StreamUsage
        {
            InputTokens = Math.Max(0, Number(usage, responses ? "input_tokens" : "prompt_tokens") - cached),
            OutputTokens = Number(usage, responses ? "output_tokens" : "completion_tokens"),
            CacheReadInputTokens = cached,
        };
    }

    // A count the upstream sent, or 0 when it sent none or something that is not one (usage never fails an answer).
    private static long Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : 0;
}
