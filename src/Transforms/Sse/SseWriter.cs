using System.Buffers;
using System.Text;

namespace CcxProxy.Transforms.Sse;

/// <summary>Formats Server-Sent Events as UTF-8, one complete frame per call.</summary>
/// <remarks>
/// Data containing line endings (<c>"\n"</c>, <c>"\r\n"</c> or <c>"\r"</c>) is split into several
/// <c>data:</c> lines, which <see cref="SseReader"/> joins back with <c>"\n"</c>; no input can
/// inject a field or end a frame early.
/// </remarks>
public static class SseWriter
{
    private const byte Lf = (byte)'\n';

    /// <summary>
    /// Writes <c>"event: {eventType}\n"</c> (unless <paramref name="eventType"/> is null or empty), one
    /// <c>"data: "</c> line per line of <paramref name="data"/>, then the blank line that ends the frame.
    /// </summary>
    /// <param name="writer">Receives the UTF-8 bytes.</param>
    /// <param name="eventType">The event name, or <see langword="null"/> for a data-only frame.</param>
    /// <param name="data">The payload; may contain line endings.</param>
    /// <exception cref="ArgumentException"><paramref name="eventType"/> contains a line ending.</exception>
    public static void WriteEvent(IBufferWriter<byte> writer, string? eventType, ReadOnlySpan<char> data)
    {
        ArgumentNullException.ThrowIfNull(writer);
        WriteEventType(writer, eventType);
        WriteLines(writer, "data: "u8, data);
        WriteByte(writer, Lf);
    }

    /// <summary>
    /// Writes one frame whose data is already UTF-8 (typically JSON): <c>"event: {eventType}\n"</c>
    /// (unless <paramref name="eventType"/> is null or empty), one <c>"data: "</c> line per line of
    /// <paramref name="utf8Data"/>, then the blank line that ends the frame.
    /// </summary>
    /// <param name="writer">Receives the UTF-8 bytes.</param>
    /// <param name="eventType">The event name, or <see langword="null"/> for a data-only frame.</param>
    /// <param name="utf8Data">The payload as UTF-8; may contain line endings.</param>
    /// <exception cref="ArgumentException"><paramref name="eventType"/> contains a line ending.</exception>
    public static void WriteEvent(IBufferWriter<byte> writer, string? eventType, ReadOnlySpan<byte> utf8Data)
    {
        ArgumentNullException.ThrowIfNull(writer);
        WriteEventType(writer, eventType);
        WriteLines(writer, "data: "u8, utf8Data);
        WriteByte(writer, Lf);
    }

    /// <summary>
    /// Writes a comment frame, <c>": {text}\n\n"</c>, such as a keep-alive. Text with line endings
    /// becomes several comment lines.
    /// </summary>
    /// <param name="writer">Receives the UTF-8 bytes.</param>
    /// <param name="text">The comment text.</param>
    public static void WriteComment(IBufferWriter<byte> writer, string text)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(text);
        WriteLines(writer, ": "u8, text);
        WriteByte(writer, Lf);
    }

    /// <summary>
    /// Writes one frame whose data is the concatenation <paramref name="head"/> + <paramref name="middle"/> +
    /// <paramref name="tail"/> (a byte splice), without building the joined payload first unless it has
    /// line endings. The output is that of <see cref="WriteEvent(IBufferWriter{byte}, string?, ReadOnlySpan{byte})"/>
    /// on the joined payload.
    /// </summary>
    internal static void WriteEvent(IBufferWriter<byte> writer, string? eventType, ReadOnlySpan<byte> head, ReadOnlySpan<byte> middle, ReadOnlySpan<byte> tail)
    {
        if (head.IndexOfAny((byte)'\r', Lf) >= 0 || middle.IndexOfAny((byte)'\r', Lf) >= 0 || tail.IndexOfAny((byte)'\r', Lf) >= 0)
        {
            var joined = ArrayPool<byte>.Shared.Rent(head.Length + middle.Length + tail.Length);
            try
            {
                head.CopyTo(joined);
                middle.CopyTo(joined.AsSpan(head.Length));
                tail.CopyTo(joined.AsSpan(head.Length + middle.Length));
                WriteEvent(writer, eventType, joined.AsSpan(0, head.Length + middle.Length + tail.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(joined);
            }

            return;
        }

        WriteEventType(writer, eventType);
        writer.Write("data: "u8);
        writer.Write(head);
        writer.Write(middle);
        writer.Write(tail);
        WriteByte(writer, Lf);
        WriteByte(writer, Lf);
    }

    /// <summary>
    /// Writes a comment frame whose text is already UTF-8, <c>": {text}\n\n"</c>. Text with line endings
    /// becomes several comment lines.
    /// </summary>
    /// <param name="writer">Receives the UTF-8 bytes.</param>
    /// <param name="utf8Text">The comment text as UTF-8.</param>
    public static void WriteComment(IBufferWriter<byte> writer, ReadOnlySpan<byte> utf8Text)
    {
        ArgumentNullException.ThrowIfNull(writer);
        WriteLines(writer, ": "u8, utf8Text);
        WriteByte(writer, Lf);
    }

    /// <summary>
    /// Formats one frame into a pooled buffer, writes it to <paramref name="stream"/> and flushes, so
    /// the client sees the event at once.
    /// </summary>
    /// <param name="stream">The response body.</param>
    /// <param name="eventType">The event name, or <see langword="null"/> for a data-only frame.</param>
    /// <param name="utf8Data">The payload as UTF-8; may contain line endings.</param>
    /// <param name="cancellationToken">Cancels the write and the flush.</param>
    /// <returns>A task that completes when the frame has been flushed.</returns>
    /// <exception cref="ArgumentException"><paramref name="eventType"/> contains a line ending.</exception>
    public static async ValueTask WriteEventAsync(
        Stream stream, string? eventType, ReadOnlyMemory<byte> utf8Data, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new PooledByteBufferWriter(utf8Data.Length + 64 + (eventType?.Length ?? 0));
        WriteEvent(buffer, eventType, utf8Data.Span);
        await stream.WriteAsync(buffer.WrittenMemory, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void WriteEventType(IBufferWriter<byte> writer, string? eventType)
    {
        if (string.IsNullOrEmpty(eventType))
        {
            return;
        }

        if (eventType.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            throw new ArgumentException("An SSE event type cannot contain a line ending.", nameof(eventType));
        }

        writer.Write("event: "u8);
        Encoding.UTF8.GetBytes(eventType, writer);
        WriteByte(writer, Lf);
    }

    /// <summary>Writes <paramref name="prefix"/> + line + LF for each line of <paramref name="value"/> (split on CRLF, CR or LF).</summary>
    private static void WriteLines(IBufferWriter<byte> writer, ReadOnlySpan<byte> prefix, ReadOnlySpan<char> value)
    {
        while (true)
        {
            var index = value.IndexOfAny('\r', '\n');
            writer.Write(prefix);
            Encoding.UTF8.GetBytes(index < 0 ? value : value[..index], writer);
            WriteByte(writer, Lf);
            if (index < 0)
            {
                return;
            }

            var crLf = value[index] == '\r' && index + 1 < value.Length && value[index + 1] == '\n';
            value = value[(index + (crLf ? 2 : 1))..];
        }
    }

    /// <inheritdoc cref="WriteLines(IBufferWriter{byte}, ReadOnlySpan{byte}, ReadOnlySpan{char})"/>
    private static void WriteLines(IBufferWriter<byte> writer, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> value)
    {
        while (true)
        {
            var index = value.IndexOfAny((byte)'\r', Lf);
            writer.Write(prefix);
            writer.Write(index < 0 ? value : value[..index]);
            WriteByte(writer, Lf);
            if (index < 0)
            {
                return;
            }

            var crLf = value[index] == (byte)'\r' && index + 1 < value.Length && value[index + 1] == Lf;
            value = value[(index + (crLf ? 2 : 1))..];
        }
    }

    private static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }
}
