using System.Buffers;
using System.Text;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Passthrough;

/// <summary>
/// An OpenAI Chat Completions stream relayed to an OpenAI client as it arrives, with each chunk's model
/// name put back to the client's (a byte splice: the rest of every chunk is untouched). A stream that
/// ends without <c>[DONE]</c> gets one when it had finished (a finish reason was seen), and an error
/// object when it had not: never a silent truncation.
/// </summary>
public sealed class ChatPassthroughStream : IStreamConverter
{
    private readonly string _clientModel;
    private bool _sawFinish;

    /// <summary>Creates the relay for one response.</summary>
    public ChatPassthroughStream(string clientModel) => _clientModel = clientModel;

    /// <inheritdoc />
    public bool Finished { get; private set; }

    /// <inheritdoc />
    public StreamUsage Usage { get; } = new();

    /// <inheritdoc />
    public void Begin(IBufferWriter<byte> output)
    {
    }

    /// <inheritdoc />
    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return;
        }

        if (upstreamEvent.IsComment)
        {
            SseWriter.WriteComment(output, upstreamEvent.Data);
            return;
        }

        if (upstreamEvent.Data == "[DONE]")
        {
            StreamFrames.OpenAIDone(output);
            Finished = true;
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(upstreamEvent.Data);
        _sawFinish |= bytes.AsSpan().IndexOf("\"finish_reason\":\""u8) >= 0;
        if (bytes.AsSpan().IndexOf("\"error\""u8) >= 0 && ErrorObject(bytes))
        {
            Finished = true;
        }

        if (bytes.AsSpan().IndexOf("\"usage\":{"u8) >= 0)
        {
            ReadUsage(bytes);
        }

        SseWriter.WriteEvent(output, upstreamEvent.EventType, RequestJson.ReplaceModelIfPresent(bytes, _clientModel).Span);
    }

    /// <inheritdoc />
    public void End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return;
        }

        if (_sawFinish)
        {
            StreamFrames.OpenAIDone(output);
            Finished = true;
        }
        else
        {
            Fail("api_error", "the upstream stream ended before it finished", output);
        }
    }

    /// <inheritdoc />
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        StreamFrames.OpenAIError(output, anthropicErrorType, message);
        Finished = true;
    }

    /// <inheritdoc />
    public void Ping(IBufferWriter<byte> output) => StreamFrames.OpenAIPing(output);

    // OpenAI's prompt_tokens include cached tokens; Anthropic's input_tokens do not (PROTOCOLS.md §2.3).
    private void ReadUsage(byte[] chunk)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(chunk);
            if (!doc.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                return;
            }

            var prompt = Number(usage, "prompt_tokens");
            var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == System.Text.Json.JsonValueKind.Object
                ? Number(details, "cached_tokens")
                : Number(usage, "prompt_cache_hit_tokens");
            Usage.CacheReadInputTokens = cached;
            Usage.InputTokens = Math.Max(0, prompt - cached);
            Usage.OutputTokens = Number(usage, "completion_tokens");
        }
        catch (System.Text.Json.JsonException)
        {
        }
    }

    private static long Number(System.Text.Json.JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n : 0;

    private static bool ErrorObject(byte[] chunk)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(chunk);
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out _);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }
}
