using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// An upstream's error answer, shown to a client that speaks the other protocol (docs/protocols.md §5): the
/// status the client's SDK expects (so its retry logic stays right) and a body in the client's shape.
/// </summary>
public static partial class ErrorMapping
{
    /// <summary>
    /// A foreign upstream's error (status + body, in OpenAI's shape or Google's) as an Anthropic client should
    /// see it (§5 O→A). 429 <c>insufficient_quota</c> → 402 <c>billing_error</c>; 502/503 → 529
    /// <c>overloaded_error</c> (the Anthropic SDKs and Claude Code retry it); a context overflow (OpenAI's
    /// "maximum context length", Gemini's "input token count (N) exceeds the maximum number of tokens allowed
    /// (M)") is reworded as Anthropic's <c>prompt is too long: N tokens &gt; M maximum</c>, which Claude Code
    /// recognises to compact; a body that is not JSON (an HTML error page) becomes a message naming the status.
    /// </summary>
    /// <param name="status">The upstream's HTTP status.</param>
    /// <param name="body">The upstream's body.</param>
    /// <param name="requestId">The request id for the Anthropic body's <c>request_id</c>, or null.</param>
    /// <returns>The status and the Anthropic error body.</returns>
    public static (int Status, byte[] Body) UpstreamToAnthropic(int status, ReadOnlySpan<byte> body, string? requestId)
    {
        var error = ReadUpstreamError(body);
        var message = error.Message ?? DescribeStatus(status, error.IsJson);
        if ((status is 400 or 413 || error.Code == "context_length_exceeded")
            && (error.Code == "context_length_exceeded" || (error.Message is not null && LooksLikeContextOverflow(error.Message))))
        {
            return (400, ErrorBodies.Anthropic("invalid_request_error", RewordContextOverflow(message), requestId));
        }

        if (status == 429 && (error.Type == "insufficient_quota" || error.Code == "insufficient_quota"))
        {
            return (402, ErrorBodies.Anthropic("billing_error", message, requestId));
        }

        var type = AnthropicTypeOfUpstreamStatus(status);
        return (type == "overloaded_error" ? 529 : status, ErrorBodies.Anthropic(type, message, requestId));
    }

    /// <summary>
    /// The Anthropic <c>error.type</c> for a foreign upstream's HTTP status, whole answer or mid-stream (§5 O→A):
    /// 502 and 503 mean overloaded, which Anthropic's clients retry; 408 a timeout; the rest as
    /// <see cref="ErrorBodies.AnthropicType"/>.
    /// </summary>
    public static string AnthropicTypeOfUpstreamStatus(int status) => status switch
    {
        408 => "timeout_error",
        502 or 503 => "overloaded_error",
        _ => ErrorBodies.AnthropicType(status),
    };

    /// <summary>
    /// An Anthropic upstream error as an OpenAI client should see it (§5 A→O): the status is kept, except
    /// 529 → 503; the message is copied; <c>type</c> is the OpenAI type for the Anthropic one and <c>code</c>
    /// carries the Anthropic type (or <c>context_length_exceeded</c> for "prompt is too long", the code
    /// OpenAI clients look for).
    /// </summary>
    /// <param name="status">The upstream's HTTP status.</param>
    /// <param name="body">The upstream's body.</param>
    /// <returns>The status and the OpenAI error body.</returns>
    public static (int Status, byte[] Body) AnthropicToOpenAI(int status, ReadOnlySpan<byte> body)
    {
        var mappedStatus = status == 529 ? 503 : status;
        string? anthropicType = null;
        string? message = null;
        var isJson = false;
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            isJson = true;
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                anthropicType = GetString(error, "type");
            }

            message = ErrorBodies.TryReadMessage(body);
        }
        catch (JsonException)
        {
        }

        message ??= DescribeStatus(status, isJson);
        var type = anthropicType is null ? ErrorBodies.OpenAIType(mappedStatus) : OpenAITypeFor(anthropicType);
        if (status == 529)
        {
            type = "server_error";
        }

        var code = message.StartsWith("prompt is too long", StringComparison.OrdinalIgnoreCase)
            ? "context_length_exceeded"
            : anthropicType;
        return (mappedStatus, ErrorBodies.OpenAI(type, message, code));
    }

    /// <summary>
    /// An Anthropic error (the hub's) as a Gemini client should see it: the status kept, except 529 → 503
    /// (<c>UNAVAILABLE</c>, which Google's SDKs retry); the message copied; Google's shape.
    /// </summary>
    /// <param name="status">The HTTP status.</param>
    /// <param name="body">The Anthropic error body.</param>
    public static (int Status, byte[] Body) AnthropicToGoogle(int status, ReadOnlySpan<byte> body)
    {
        var mapped = status == 529 ? 503 : status;
        var message = ErrorBodies.TryReadMessage(body) ?? DescribeStatus(status, IsJson(body));
        return (mapped, ErrorBodies.Google(mapped, message));
    }

    private static bool IsJson(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var document = JsonDocument.ParseValue(ref reader);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>The OpenAI <c>error.type</c> for an Anthropic <c>error.type</c>.</summary>
    /// <param name="anthropicType">An Anthropic error type such as <c>overloaded_error</c>.</param>
    /// <returns>The OpenAI error type; <c>server_error</c> for unknown types.</returns>
    public static string OpenAITypeFor(string anthropicType) => anthropicType switch
    {
        "invalid_request_error" or "request_too_large" => "invalid_request_error",
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        "rate_limit_error" => "rate_limit_error",
        "billing_error" => "insufficient_quota",
        _ => "server_error",
    };

    private static string DescribeStatus(int status, bool isJson) => isJson
        ? string.Create(CultureInfo.InvariantCulture, $"upstream error (HTTP {status})")
        : string.Create(CultureInfo.InvariantCulture, $"upstream error (HTTP {status}): the upstream answered with a body that is not JSON");

    private static bool LooksLikeContextOverflow(string message) =>
        message.Contains("maximum context length", StringComparison.OrdinalIgnoreCase)
        || message.Contains("context_length_exceeded", StringComparison.OrdinalIgnoreCase)
        || message.Contains("context window", StringComparison.OrdinalIgnoreCase)
        || (message.Contains("input token count", StringComparison.OrdinalIgnoreCase) && message.Contains("exceeds the maximum number of tokens", StringComparison.OrdinalIgnoreCase))
        || message.StartsWith("prompt is too long", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens."
    /// → "prompt is too long: 9000 tokens &gt; 8192 maximum". Without both numbers: "prompt is too long: " +
    /// the upstream's message, which keeps the prefix Claude Code looks for and loses nothing.
    /// </summary>
    private static string RewordContextOverflow(string message)
    {
        if (message.StartsWith("prompt is too long", StringComparison.OrdinalIgnoreCase))
        {
            return message;
        }

        var max = MaximumPattern().Match(message);
        var actual = ActualPattern().Match(message);
        return max.Success && actual.Success
            ? $"prompt is too long: {actual.Groups["tokens"].Value} tokens > {max.Groups[1].Value} maximum"
            : "prompt is too long: " + message;
    }

    [GeneratedRegex(@"(?:(?:maximum context length|context length|context window)(?: of this model)? is|maximum number of tokens allowed) \(?(\d+)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 200)]
    private static partial Regex MaximumPattern();

    [GeneratedRegex(@"(?:(?:resulted in|requested|request has|prompt has|prompt contains|input has) (?:about )?(?<tokens>\d+) tokens|input token count \(?(?<tokens>\d+))", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, 200)]
    private static partial Regex ActualPattern();

    private static (string? Message, string? Type, string? Code, bool IsJson) ReadUpstreamError(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            string? type = null;
            string? code = null;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                type = GetString(error, "type");

                // OpenRouter sends a numeric code; only string codes name a condition.
                code = GetString(error, "code");
            }

            var message = ErrorBodies.TryReadMessage(body);
            return (string.IsNullOrEmpty(message) ? null : message, type, code, true);
        }
        catch (JsonException)
        {
            return (null, null, null, false);
        }
    }

    private static string? GetString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
