using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// An OpenAI Chat Completions stream relayed to an OpenAI client as it arrives, with each chunk's model
/// name put back to the client's (a byte splice: the rest of every chunk is untouched). A stream that
/// ends without <c>[DONE]</c> gets one when it had finished (a finish reason was seen), and an error
/// object when it had not: never a silent truncation. A frame that is not a JSON object ends the stream with an
/// error object (before the finish) or is dropped (after it). Works on the event's UTF-8 bytes: an event without
/// a model name is written as it came, with no string and no copy of its own.
/// </summary>
public sealed class ChatPassthroughStream : IStreamConverter
{
    private readonly string _clientModel;

    // The client's model as a JSON string token, as RequestJson.Rewrite splices it.
    private readonly byte[] _quotedClientModel;
    private bool _sawFinish;

    /// <summary>Creates the relay for one response.</summary>
    public ChatPassthroughStream(string clientModel)
    {
        _clientModel = clientModel;
        var encoded = JsonEncodedText.Encode(clientModel).EncodedUtf8Bytes;
        _quotedClientModel = new byte[encoded.Length + 2];
        _quotedClientModel[0] = _quotedClientModel[^1] = (byte)'"';
        encoded.CopyTo(_quotedClientModel.AsSpan(1));
    }

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
            SseWriter.WriteComment(output, upstreamEvent.DataUtf8.Span);
            return;
        }

        var bytes = upstreamEvent.DataUtf8;
        var span = bytes.Span;
        if (span.SequenceEqual("[DONE]"u8))
        {
            StreamFrames.OpenAIDone(output);
            Finished = true;
            return;
        }

        // RequestJson.ReplaceModelIfPresent's rule (the same scan), spliced straight into the frame: no new array.
        if (!RequestJson.TryScan(span, out var scan) && !RequestJson.IsJsonObject(span))
        {
            // Not a chunk at all: no client could read it, and it says nothing (a finish reason in it counts for nothing).
            // An empty one (a keep-alive) and one after the finish, when the answer is whole, are dropped; any other
            // means the stream is broken.
            if (!_sawFinish && !SseData.TrimWhiteSpace(span).IsEmpty)
            {
                Fail("api_error", "the upstream sent an event that is not valid JSON", output);
            }

            return;
        }

        _sawFinish |= span.IndexOf("\"finish_reason\":\""u8) >= 0;
        if (span.IndexOf("\"error\""u8) >= 0 && ErrorObject(bytes))
        {
            Finished = true;
        }

        if (span.IndexOf("\"usage\":{"u8) >= 0)
        {
            ReadUsage(bytes);
        }

        if (scan.Model is null || scan.Model == _clientModel)
        {
            SseWriter.WriteEvent(output, upstreamEvent.EventType, span);
        }
        else
        {
            var (start, end) = (scan.ModelRange.Start.Value, scan.ModelRange.End.Value);
            SseWriter.WriteEvent(output, upstreamEvent.EventType, span[..start], _quotedClientModel, span[end..]);
        }
    }

    /// <inheritdoc />
    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        if (_sawFinish)
        {
            StreamFrames.OpenAIDone(output);
            Finished = true;
            return true;
        }

        Fail("api_error", "the upstream stream ended before it finished", output);
        return false;
    }

    /// <inheritdoc />
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        StreamFrames.OpenAIError(output, anthropicErrorType, message);
        Finished = true;
    }

    /// <inheritdoc />
    public void Ping(IBufferWriter<byte> output) => StreamFrames.OpenAIPing(output);

    // OpenAI's prompt_tokens include cached tokens; Anthropic's input_tokens do not (docs/protocols.md §2.3).
    private void ReadUsage(ReadOnlyMemory<byte> chunk)
    {
        try
        {
            using var doc = JsonDocument.Parse(chunk);
            if (!doc.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            var prompt = Number(usage, "prompt_tokens");
            var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
                ? Number(details, "cached_tokens")
                : Number(usage, "prompt_cache_hit_tokens");
            Usage.CacheReadInputTokens = cached;
            Usage.InputTokens = Math.Max(0, prompt - cached);
            Usage.OutputTokens = Number(usage, "completion_tokens");
        }
        catch (JsonException)
        {
        }
    }

    private static long Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : 0;

    private static bool ErrorObject(ReadOnlyMemory<byte> chunk)
    {
        try
        {
            using var doc = JsonDocument.Parse(chunk);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
