using System.Buffers;
using System.Text;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// Two stream converters joined through the hub: <c>toMessages</c> turns the upstream's events into Anthropic
/// SSE frames, which are read back and handed to <c>fromMessages</c>, which writes the client's. The frames in
/// between are the ones <see cref="SseWriter"/> writes (LF line ends, one space after the colon).
/// </summary>
internal sealed class ChainedStreamConverter(IStreamConverter toMessages, IStreamConverter fromMessages) : IStreamConverter
{
    // The event names Anthropic streams use, so reading them back allocates no strings.
    private static readonly (byte[] Utf8, string Name)[] s_eventTypes =
        [.. new[] { "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop", "ping", "error" }
            .Select(name => (Encoding.UTF8.GetBytes(name), name))];

    private readonly ArrayBufferWriter<byte> _hub = new(1024);

    public bool Finished => fromMessages.Finished;

    // What the upstream reported, in Anthropic's terms: the hub side has it before the client's shape does.
    public StreamUsage Usage => toMessages.Usage;

    public void Begin(IBufferWriter<byte> output)
    {
        fromMessages.Begin(output);
        toMessages.Begin(_hub);
        Pump(output);
    }

    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        toMessages.Convert(upstreamEvent, _hub);
        Pump(output);
    }

    public bool End(IBufferWriter<byte> output)
    {
        var complete = toMessages.End(_hub);
        Pump(output);
        return fromMessages.End(output) && complete;
    }

    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output) => fromMessages.Fail(anthropicErrorType, message, output);

    public void Ping(IBufferWriter<byte> output) => fromMessages.Ping(output);

    // Hands every complete frame written to the hub buffer to the client side, then empties the buffer.
    private void Pump(IBufferWriter<byte> output)
    {
        var pending = _hub.WrittenMemory;
        while (true)
        {
            var end = pending.Span.IndexOf("\n\n"u8);
            if (end < 0)
            {
                break;
            }

            fromMessages.Convert(Parse(pending[..(end + 1)]), output);
            pending = pending[(end + 2)..];
        }

        if (!pending.IsEmpty)
        {
            throw new InvalidOperationException("a hub converter wrote part of an SSE frame");
        }

        _hub.ResetWrittenCount();
    }

    // One frame's lines: "event: x", "data: y" (several are joined with LF, as SseReader joins them), or ": comment".
    private static SseEvent Parse(ReadOnlyMemory<byte> frame)
    {
        string? eventType = null;
        ReadOnlyMemory<byte> data = default;
        var dataLines = 0;
        ReadOnlyMemory<byte> comment = default;
        var isComment = false;
        while (!frame.IsEmpty)
        {
            var lineEnd = frame.Span.IndexOf((byte)'\n');
            var line = frame[..lineEnd];
            frame = frame[(lineEnd + 1)..];
            if (line.Span.StartsWith("data:"u8))
            {
                var value = WithoutOneSpace(line[5..]);
                data = dataLines++ == 0 ? value : (byte[])[.. data.Span, (byte)'\n', .. value.Span];
            }
            else if (line.Span.StartsWith("event:"u8))
            {
                eventType = EventType(WithoutOneSpace(line[6..]).Span);
            }
            else if (line.Span.StartsWith(":"u8) && !isComment)
            {
                isComment = true;
                comment = WithoutOneSpace(line[1..]);
            }
        }

        // A frame of comment lines only is a comment (its first line is its text, as SseReader gives it).
        return isComment && eventType is null && dataLines == 0
            ? new SseEvent(null, comment, null, IsComment: true)
            : new SseEvent(eventType, data, null, IsComment: false);
    }

    private static ReadOnlyMemory<byte> WithoutOneSpace(ReadOnlyMemory<byte> value) =>
        value.Span.StartsWith(" "u8) ? value[1..] : value;

    private static string EventType(ReadOnlySpan<byte> name)
    {
        foreach (var (utf8, known) in s_eventTypes)
        {
            if (name.SequenceEqual(utf8))
            {
                return known;
            }
        }

        return Encoding.UTF8.GetString(name);
    }
}
