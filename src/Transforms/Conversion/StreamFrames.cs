using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion;

/// <summary>The keep-alive and error frames of each protocol's streams, and the readers of Anthropic's that several converters share.</summary>
public static class StreamFrames
{
    private static readonly byte[] s_ping = """{"type":"ping"}"""u8.ToArray();
    private static readonly byte[] s_done = "[DONE]"u8.ToArray();

    /// <summary><c>event: ping</c> (Anthropic clients ignore it; it keeps proxies and idle timers from cutting the stream).</summary>
    public static void AnthropicPing(IBufferWriter<byte> output) => SseWriter.WriteEvent(output, "ping", s_ping);

    /// <summary>An SSE comment (OpenAI SDKs ignore comments; OpenRouter uses them the same way).</summary>
    public static void OpenAIPing(IBufferWriter<byte> output) => SseWriter.WriteComment(output, "keep-alive");

    /// <summary><c>event: error</c> with an Anthropic error object (docs/protocols.md §5).</summary>
    public static void AnthropicError(IBufferWriter<byte> output, string type, string message) =>
        SseWriter.WriteEvent(output, "error", ErrorBodies.Anthropic(type, message, requestId: null));

    /// <summary><c>data: {"error":{...}}</c>, which the OpenAI SDKs raise as an error.</summary>
    public static void OpenAIError(IBufferWriter<byte> output, string anthropicType, string message) =>
        SseWriter.WriteEvent(output, null, ErrorBodies.OpenAI(ErrorMapping.OpenAITypeFor(anthropicType), message, code: null));

    /// <summary>The error type and message of an Anthropic <c>event: error</c>'s data, with defaults when either is missing.</summary>
    public static (string Type, string Message) ReadAnthropicError(JsonElement data)
    {
        var error = data.ValueKind == JsonValueKind.Object && data.TryGetProperty("error", out var e) ? e : default;
        return (OpenAIWire.GetString(error, "type") ?? "api_error", OpenAIWire.GetString(error, "message") ?? "upstream error");
    }

    /// <summary>
    /// An Anthropic <c>message_delta</c>'s data: its usage read into <paramref name="usage"/> (output_tokens is cumulative;
    /// input and cache fields, when present, are the final counts), and its <c>stop_reason</c>, or null when it has none.
    /// </summary>
    public static string? ReadMessageDelta(JsonElement data, StreamUsage usage)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (data.TryGetProperty("usage", out var usageElement))
        {
            OpenAIWire.ReadAnthropicUsage(usageElement, usage);
        }

        return data.TryGetProperty("delta", out var delta) ? OpenAIWire.GetString(delta, "stop_reason") : null;
    }

    /// <summary><c>data: [DONE]</c>, the end of an OpenAI stream.</summary>
    public static void OpenAIDone(IBufferWriter<byte> output) => SseWriter.WriteEvent(output, null, s_done);
}
