using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// Mappings shared by the request, response and stream converters of the Anthropic-client /
/// OpenAI-upstream direction (docs/protocols.md §1, §2, §5).
/// </summary>
internal static class ChatMapping
{
    /// <summary>
    /// JSON written for API clients and upstreams, never HTML: keep non-ASCII text (CJK, emoji) as UTF-8
    /// instead of \u escapes, which is smaller and what the upstreams themselves send.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private const string IdAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>A new Anthropic-style message id, <c>msg_</c> + 24 random base-62 characters.</summary>
    public static string NewMessageId() => "msg_" + RandomNumberGenerator.GetString(IdAlphabet, 24);

    /// <summary>
    /// OpenAI <c>finish_reason</c> → Anthropic <c>stop_reason</c> (§2.2). <paramref name="matchedStop"/>
    /// is the stop sequence the upstream says it matched (vLLM <c>stop_reason</c>, SGLang
    /// <c>matched_stop</c>), or null.
    /// </summary>
    /// <returns>The stop reason and the stop sequence (null unless the reason is <c>stop_sequence</c>).</returns>
    public static (string StopReason, string? StopSequence) MapFinishReason(string? finishReason, bool sawToolCalls, string? matchedStop)
    {
        switch (finishReason)
        {
            case "length":
                return ("max_tokens", null);
            case "tool_calls" or "function_call":
                return ("tool_use", null);
            case "content_filter":
                // new-api's reasonmap.go; musistudio/llms' stop_sequence is wrong (§8 #18).
                return ("refusal", null);
            case "stop" when !sawToolCalls && matchedStop is not null:
                return ("stop_sequence", matchedStop);
            default:
                // "stop", null or an unknown value: end_turn, never an invented value (§2.2). Some providers
                // say "stop" (or nothing) after tool calls; the client must still see tool_use to run them.
                return (sawToolCalls ? "tool_use" : "end_turn", null);
        }
    }

    /// <summary>Reads an OpenAI <c>usage</c> object into Anthropic's terms (§2.3).</summary>
    public static void ReadUsage(JsonElement usage, StreamUsage into)
    {
        if (usage.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var prompt = GetLong(usage, "prompt_tokens");
        var completion = GetLong(usage, "completion_tokens");
        long cacheRead = 0;
        long cacheWrite = 0;
        if (usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object)
        {
            cacheRead = GetLong(details, "cached_tokens") ?? 0;
            cacheWrite = GetLong(details, "cache_write_tokens") ?? GetLong(details, "cache_creation_tokens") ?? 0;
        }

        if (cacheRead == 0)
        {
            // DeepSeek reports its context cache at the top level.
            cacheRead = GetLong(usage, "prompt_cache_hit_tokens") ?? 0;
        }

        if (prompt is { } p)
        {
            into.InputTokens = Math.Max(0, p - cacheRead - cacheWrite);
        }

        if (completion is { } c)
        {
            into.OutputTokens = c;
        }

        into.CacheReadInputTokens = cacheRead;
        into.CacheCreationInputTokens = cacheWrite;
    }

    /// <summary>A non-negative integer property, or null.</summary>
    public static long? GetLong(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n)
            ? Math.Max(0, n)
            : null;

    /// <summary>A string property, or null when absent, null or not a string.</summary>
    public static string? GetString(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    /// <summary>
    /// The Anthropic <c>error.type</c> for an OpenAI-shaped error object (<c>{message, type, code}</c>, or
    /// OpenRouter's numeric <c>code</c>), per §5.
    /// </summary>
    public static string MapErrorType(JsonElement error)
    {
        if (error.ValueKind != JsonValueKind.Object)
        {
            return "api_error";
        }

        foreach (var name in (ReadOnlySpan<string>)["code", "status", "type"])
        {
            if (!error.TryGetProperty(name, out var value))
            {
                continue;
            }

            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var status))
            {
                return Protocols.ErrorMapping.AnthropicTypeOfUpstreamStatus(status);
            }

            if (value.ValueKind == JsonValueKind.String && MapErrorName(value.GetString()!) is { } mapped)
            {
                return mapped;
            }
        }

        return "api_error";
    }

    private static string? MapErrorName(string name)
    {
        if (int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var status))
        {
            return Protocols.ErrorMapping.AnthropicTypeOfUpstreamStatus(status);
        }

        return name switch
        {
            "insufficient_quota" => "billing_error",
            "server_error" or "internal_error" or "api_error" => "api_error",
            _ when name.Contains("rate_limit", StringComparison.OrdinalIgnoreCase) => "rate_limit_error",
            _ when name.Contains("overloaded", StringComparison.OrdinalIgnoreCase) => "overloaded_error",
            _ when name.Contains("timeout", StringComparison.OrdinalIgnoreCase) => "timeout_error",
            _ when name.Contains("auth", StringComparison.OrdinalIgnoreCase) || name == "invalid_api_key" => "authentication_error",
            _ when name.Contains("permission", StringComparison.OrdinalIgnoreCase) => "permission_error",
            _ when name.Contains("not_found", StringComparison.OrdinalIgnoreCase) => "not_found_error",
            _ when name.Contains("invalid", StringComparison.OrdinalIgnoreCase) || name == "context_length_exceeded" => "invalid_request_error",
            _ => null,
        };
    }

    /// <summary>The message of an upstream error value (object with <c>message</c>, or a bare string).</summary>
    public static string ErrorMessage(JsonElement error) => error.ValueKind switch
    {
        JsonValueKind.String => error.GetString()!,
        JsonValueKind.Object when GetString(error, "message") is { Length: > 0 } message => message,
        _ => "upstream error",
    };

    /// <summary>
    /// Writes tool-call <paramref name="arguments"/> as an Anthropic <c>input</c>, which must be an
    /// object (§2.1): empty → <c>{}</c>; invalid JSON → repaired when that is trivial (a truncated
    /// object closed, a trailing comma, a double-encoded string), else <c>{"_raw": arguments}</c>.
    /// </summary>
    public static void WriteToolInput(Utf8JsonWriter writer, string? arguments)
    {
        var text = arguments?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            writer.WriteStartObject();
            writer.WriteEndObject();
            return;
        }

        if (TryParseObject(text, out var parsed) || TryParseObject(Repair(text), out parsed) || TryParseDoubleEncoded(text, out parsed))
        {
            using (parsed)
            {
                parsed!.RootElement.WriteTo(writer);
            }

            return;
        }

        writer.WriteStartObject();
        writer.WriteString("_raw"u8, arguments);
        writer.WriteEndObject();
    }

    private static bool TryParseObject(string text, out JsonDocument? document)
    {
        document = null;
        try
        {
            var parsed = JsonDocument.Parse(text);
            if (parsed.RootElement.ValueKind == JsonValueKind.Object)
            {
                document = parsed;
                return true;
            }

            parsed.Dispose();
            return false;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool TryParseDoubleEncoded(string text, out JsonDocument? document)
    {
        document = null;
        try
        {
            using var outer = JsonDocument.Parse(text);
            return outer.RootElement.ValueKind == JsonValueKind.String && TryParseObject(outer.RootElement.GetString()!, out document);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Closes an unterminated string and unbalanced brackets, and drops a trailing comma.</summary>
    private static string Repair(string text)
    {
        var closers = new Stack<char>();
        var inString = false;
        var escaped = false;
        foreach (var c in text)
        {
            if (inString)
            {
                if (escaped)
                {
                    escaped = false;
                }
                else if (c == '\\')
                {
                    escaped = true;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '{':
                    closers.Push('}');
                    break;
                case '[':
                    closers.Push(']');
                    break;
                case '}' or ']' when closers.Count > 0 && closers.Peek() == c:
                    closers.Pop();
                    break;
                default:
                    break;
            }
        }

        var builder = new StringBuilder(text, text.Length + closers.Count + 2);
        if (inString)
        {
            if (escaped)
            {
                builder.Length--;
            }

            builder.Append('"');
        }

        var trimmed = builder.ToString().TrimEnd();
        if (trimmed.EndsWith(',') || trimmed.EndsWith(':'))
        {
            trimmed = trimmed[..^1];
        }

        builder.Clear().Append(trimmed);
        foreach (var closer in closers)
        {
            builder.Append(closer);
        }

        return builder.ToString();
    }

    /// <summary>Writes <paramref name="value"/> as a compact JSON string, for tool-call <c>arguments</c>.</summary>
    public static string ToCompactJson(JsonElement value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            value.WriteTo(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}

/// <summary>
/// Follows the bracket structure of a JSON text fed in fragments, to tell whether a streamed tool
/// call's arguments are complete (a balanced top-level value) without parsing them.
/// </summary>
internal struct JsonCompletenessScanner
{
    private int _depth;
    private bool _inString;
    private bool _escaped;
    private bool _started;

    /// <summary>True once a top-level object or array has been opened and closed again.</summary>
    public readonly bool IsComplete => _started && _depth == 0 && !_inString;

    /// <summary>Feeds the next fragment.</summary>
    public void Feed(string fragment)
    {
        foreach (var c in fragment)
        {
            if (_inString)
            {
                if (_escaped)
                {
                    _escaped = false;
                }
                else if (c == '\\')
                {
                    _escaped = true;
                }
                else if (c == '"')
                {
                    _inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    _inString = true;
                    break;
                case '{' or '[':
                    _depth++;
                    _started = true;
                    break;
                case '}' or ']':
                    _depth--;
                    break;
                default:
                    break;
            }
        }
    }
}
