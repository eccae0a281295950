using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// A Gemini SSE stream relayed to a Gemini client: each chunk byte for byte, framed as SSE or as elements of one JSON
/// array (<see cref="GeminiFrames"/>). The chunk with <c>finishReason</c> (or a blocked prompt's feedback) is the last,
/// and its <c>usageMetadata</c> the answer's usage; an error chunk ends the stream as it is; an end before any of
/// these ends with Google's error.
/// </summary>
/// <param name="jsonArray">True when the client asked for the JSON-array stream.</param>
public sealed class GeminiPassthroughStream(bool jsonArray) : IStreamConverter
{
    private readonly GeminiFrames _frames = new(jsonArray);

    /// <inheritdoc/>
    public bool Finished { get; private set; }

    /// <inheritdoc/>
    public StreamUsage Usage { get; } = new();

    /// <inheritdoc/>
    public void Begin(IBufferWriter<byte> output) => _frames.Open(output);

    /// <inheritdoc/>
    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        var data = upstreamEvent.DataUtf8.Span;
        if (Finished || upstreamEvent.IsComment || data.IsEmpty)
        {
            return;
        }

        _frames.Write(output, data);

        // An error chunk ends the stream; so does the chunk with a finish reason, or a blocked prompt's feedback
        // (looked at closely only when the chunk names one: most chunks do not).
        var error = data.TrimStart(" \t\r\n"u8).StartsWith("{\"error\""u8);
        if (error || ((data.IndexOf("\"finishReason\""u8) >= 0 || data.IndexOf("\"blockReason\""u8) >= 0) && IsLast(data)))
        {
            Finished = true;
            _frames.Close(output);
        }
    }

    /// <inheritdoc/>
    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        Fail("api_error", "the upstream stream ended before the answer was finished", output);
        return false;
    }

    /// <inheritdoc/>
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            Finished = true;
            _frames.Error(output, anthropicErrorType, message);
        }
    }

    /// <inheritdoc/>
    public void Ping(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            _frames.Ping(output);
        }
    }

    // True for the answer's last chunk (its candidate has a finishReason, or its prompt was blocked); reads its usage.
    private bool IsLast(ReadOnlySpan<byte> data)
    {
        try
        {
            var reader = new Utf8JsonReader(data);
            using var document = JsonDocument.ParseValue(ref reader);
            var chunk = document.RootElement;
            var candidate = GeminiUpstream.FirstCandidate(chunk);
            var last = GeminiWire.GetString(candidate, "finishReason") is not null
                || (GeminiWire.TryGet(chunk, "promptFeedback", out var feedback) && GeminiWire.GetString(feedback, "blockReason") is not null);
            if (last && GeminiWire.TryGet(chunk, "usageMetadata", out var metadata))
            {
                GeminiWire.ReadUsage(metadata, Usage);
            }

            return last;
        }
        catch (JsonException)
        {
            // Relayed as it came; not an end the gateway can read.
            return false;
        }
    }
}
