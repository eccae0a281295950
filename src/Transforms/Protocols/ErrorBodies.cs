using System.Text.Encodings.Web;
using System.Text.Json;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// Error bodies in each protocol's own shape (docs/protocols.md §5), so a caller always gets the error
/// its SDK knows how to read, whichever part of the gateway or upstream produced it.
/// </summary>
public static class ErrorBodies
{
    // Error bodies are JSON read by API clients, never HTML: keep quotes and apostrophes in messages readable.
    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The Anthropic <c>error.type</c> for an HTTP status.</summary>
    public static string AnthropicType(int status) => status switch
    {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    /// <summary>The HTTP status an Anthropic <c>error.type</c> stands for (the inverse of <see cref="AnthropicType"/>), for an error written mid-stream.</summary>
    public static int StatusOfAnthropicType(string anthropicType) => anthropicType switch
    {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 503,
        _ => 500,
    };

    /// <summary>The OpenAI <c>error.type</c> for an HTTP status.</summary>
    public static string OpenAIType(int status) => status switch
    {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        >= 500 => "server_error",
        _ => "invalid_request_error",
    };

    /// <summary>Google's canonical <c>error.status</c> for an HTTP status (google.rpc.Code's names).</summary>
    public static string GoogleStatus(int status) => status switch
    {
        400 or 413 or 422 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 => "FAILED_PRECONDITION",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        502 or 503 or 529 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    };

    /// <summary>
    /// An error body for <paramref name="status"/> in <paramref name="protocol"/>'s shape: OpenAI's carries
    /// <paramref name="code"/>, Anthropic's the <paramref name="requestId"/>, Google's its canonical status name.
    /// </summary>
    public static byte[] For(WireProtocol protocol, int status, string message, string? requestId, string? code = null) => protocol switch
    {
        WireProtocol.OpenAI or WireProtocol.Responses => OpenAI(OpenAIType(status), message, code),
        WireProtocol.Gemini => Google(status, message),
        _ => Anthropic(AnthropicType(status), message, requestId),
    };

    /// <summary><c>{"error":{"code","message","status"}}</c>, Google's shape (the Gemini API and its SDKs).</summary>
    public static byte[] Google(int status, string message)
    {
        using var buffer = new MemoryStream(96 + message.Length);
        using (var json = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            json.WriteStartObject();
            json.WriteStartObject("error"u8);
            json.WriteNumber("code"u8, status);
            json.WriteString("message"u8, message);
            json.WriteString("status"u8, GoogleStatus(status));
            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>True when <paramref name="body"/> already is a Google error object (<c>error.code</c> a number, <c>error.message</c> a string).</summary>
    public static bool IsGoogleError(ReadOnlySpan<byte> body) => HasErrorObject(body, static (_, error) =>
        error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.Number && IsString(error, "message"));

    /// <summary><c>{"type":"error","error":{"type","message"},"request_id"}</c>.</summary>
    public static byte[] Anthropic(string type, string message, string? requestId)
    {
        using var buffer = new MemoryStream(128 + message.Length);
        using (var json = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "error"u8);
            json.WriteStartObject("error"u8);
            json.WriteString("type"u8, type);
            json.WriteString("message"u8, message);
            json.WriteEndObject();
            if (requestId is not null)
            {
                json.WriteString("request_id"u8, requestId);
            }

            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary><c>{"error":{"message","type","param","code"}}</c>.</summary>
    public static byte[] OpenAI(string type, string message, string? code)
    {
        using var buffer = new MemoryStream(128 + message.Length);
        using (var json = new Utf8JsonWriter(buffer, s_writerOptions))
        {
            json.WriteStartObject();
            json.WriteStartObject("error"u8);
            json.WriteString("message"u8, message);
            json.WriteString("type"u8, type);
            json.WriteNull("param"u8);
            if (code is null)
            {
                json.WriteNull("code"u8);
            }
            else
            {
                json.WriteString("code"u8, code);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>True when <paramref name="body"/> already is an OpenAI error object (<c>error.message</c> a string).</summary>
    public static bool IsOpenAIError(ReadOnlySpan<byte> body) => HasErrorObject(body, static (_, error) => IsString(error, "message"));

    /// <summary>
    /// True when <paramref name="body"/> already is an Anthropic error object (<c>type: "error"</c> with
    /// <c>error.type</c> and <c>error.message</c>), so it can be passed through as it is.
    /// </summary>
    public static bool IsAnthropicError(ReadOnlySpan<byte> body) => HasErrorObject(body, static (root, error) =>
        root.TryGetProperty("type", out var type) && type.ValueEquals("error") && IsString(error, "type") && IsString(error, "message"));

    // A JSON object with an "error" object, of the shape the check says.
    private static bool HasErrorObject(ReadOnlySpan<byte> body, Func<JsonElement, JsonElement, bool> shape)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            return root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
                && shape(root, error);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static bool IsString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String;

    /// <summary>
    /// Reads <c>error.message</c> (Anthropic or OpenAI shape) or a top-level <c>message</c> from an upstream
    /// error body; null when the body is not JSON or carries none.
    /// </summary>
    public static string? TryReadMessage(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (root.TryGetProperty("error", out var error))
            {
                if (error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String)
                {
                    return m.GetString();
                }

                if (error.ValueKind == JsonValueKind.String)
                {
                    return error.GetString();
                }
            }

            return root.TryGetProperty("message", out var top) && top.ValueKind == JsonValueKind.String ? top.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
