using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion;

/// <summary>
/// What every stream converter whose upstream events are JSON objects does alike (Anthropic Messages, OpenAI
/// Responses and Gemini events): comments and empty events are skipped, each event is parsed once and handed to
/// <see cref="Read"/>, an event that is not JSON fails the stream, an end before the upstream finished fails it too
/// (never a made-up stop), and once <see cref="Finished"/> nothing more is written. A subclass reads the events and
/// says how its client's protocol writes an error and a keep-alive.
/// </summary>
/// <param name="unfinished">What the client is told when the upstream's stream ends before its finish.</param>
internal abstract class JsonEventStream(string unfinished) : IStreamConverter
{
    public bool Finished { get; protected set; }

    public StreamUsage Usage { get; } = new();

    public virtual void Begin(IBufferWriter<byte> output)
    {
    }

    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished || upstreamEvent.IsComment || upstreamEvent.DataUtf8.IsEmpty)
        {
            return;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(upstreamEvent.DataUtf8);
        }
        catch (JsonException)
        {
            Fail("api_error", "the upstream sent an event that is not valid JSON", output);
            return;
        }

        using (document)
        {
            Read(document.RootElement, upstreamEvent.EventType, output);
        }
    }

    public bool End(IBufferWriter<byte> output)
    {
        if (Finished || EndsWhole(output))
        {
            return true;
        }

        Fail("api_error", unfinished, output);
        return false;
    }

    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            WriteError(anthropicErrorType, message, output);
            Finished = true;
        }
    }

    public void Ping(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            WritePing(output);
        }
    }

    /// <summary>Reads one upstream event (its JSON and its SSE event name, if any) and writes what it means.</summary>
    protected abstract void Read(JsonElement data, string? eventType, IBufferWriter<byte> output);

    /// <summary>
    /// At an upstream end before its last event: true when the answer is whole all the same (only the final frame
    /// was lost) and this converter has finished it; false to fail the stream.
    /// </summary>
    protected virtual bool EndsWhole(IBufferWriter<byte> output) => false;

    /// <summary>Writes the client's error frame, which ends the stream.</summary>
    protected abstract void WriteError(string anthropicErrorType, string message, IBufferWriter<byte> output);

    /// <summary>Writes the client's keep-alive.</summary>
    protected abstract void WritePing(IBufferWriter<byte> output);
}
