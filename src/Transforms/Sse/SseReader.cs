using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace CcxProxy.Transforms.Sse;

/// <summary>
/// Reads Server-Sent Events incrementally from a byte stream, one event or comment per call.
/// </summary>
/// <remarks>
/// Follows the HTML "event stream interpretation" rules with one deliberate difference: a final
/// frame that is not followed by a blank line is still delivered, because upstreams end streams
/// that way. Bytes are searched for a line ending once only, data stays UTF-8 (no string per event),
/// and buffers come from <see cref="ArrayPool{T}"/>. Not thread-safe: one read at a time.
/// Once <see cref="ReadAsync"/> has thrown, the reader must not be used again.
/// <para>
/// <b>An event's <see cref="SseEvent.DataUtf8"/> is a slice of this reader's pooled buffers: it is valid
/// only until the next <see cref="ReadAsync"/> or <see cref="DisposeAsync"/> call.</b> Use it (convert,
/// write, copy) before reading on, or keep <see cref="SseEvent.Detach"/>.
/// </para>
/// </remarks>
public sealed class SseReader : IAsyncDisposable
{
    private const byte Cr = (byte)'\r';
    private const byte Lf = (byte)'\n';
    private const int InitialBufferSize = 4096;

    // A buffer grown past this for one huge event goes back to the pool once it is no longer needed,
    // so a long-lived stream does not pin it.
    private const int RetainedBufferSize = 64 * 1024;

    // Event names decoded without allocating (Anthropic Messages, plus the spec's default).
    private static readonly string[] KnownEventTypes =
    [
        "content_block_delta", "content_block_start", "content_block_stop", "message_delta",
        "message_start", "message_stop", "ping", "error", "message",
    ];

    private readonly Stream _stream;
    private readonly int _maxEventBytes;

    // Unconsumed bytes are _buffer[_start.._end); _buffer[_start.._scanned) holds no line ending.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _scanned;

    // The last line ended with a CR that was the last byte read: a LF that starts the next read
    // belongs to that CR (one CRLF split across reads).
    private bool _skipLeadingLf;
    private bool _bomChecked;
    private bool _endOfStream;
    private bool _disposed;

    // The frame being built: data lines as UTF-8, each followed by '\n'.
    private byte[]? _data;
    private int _dataLength;
    private bool _hasData;
    private string? _eventType;
    private string? _id;
    private int _frameBytes;

    /// <summary>Creates a reader over <paramref name="stream"/>; the reader does not own the stream.</summary>
    /// <param name="stream">The event stream, read as UTF-8.</param>
    /// <param name="maxEventBytes">
    /// The most bytes one event may span: the sum of its field lines, without line endings.
    /// A single comment line is held to the same limit.
    /// </param>
    public SseReader(Stream stream, int maxEventBytes = 16 * 1024 * 1024)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEventBytes);
        _stream = stream;
        _maxEventBytes = maxEventBytes;
    }

    /// <summary>
    /// Reads the next event or comment; <see langword="null"/> at the end of the stream. A final
    /// frame without the trailing blank line is still returned.
    /// </summary>
    /// <param name="cancellationToken">Cancels the pending read from the stream.</param>
    /// <returns>
    /// The next event or comment, or <see langword="null"/> when the stream has ended. Its
    /// <see cref="SseEvent.DataUtf8"/> is valid only until the next call (see the remarks).
    /// </returns>
    /// <exception cref="SseFormatException">One event exceeds the maximum event size.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<SseEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _buffer ??= ArrayPool<byte>.Shared.Rent(InitialBufferSize);

        // The previous event may have borrowed a data buffer grown for one huge event: the caller is done
        // with it now, so it goes back to the pool here rather than at dispatch.
        if (_dataLength == 0 && _data is { Length: > RetainedBufferSize })
        {
            ReturnBuffer(ref _data);
        }

        while (true)
        {
            if (TryReadBufferedLines(out var item))
            {
                return item;
            }

            if (_endOfStream)
            {
                return ReadAtEndOfStream(out item) ? item : null;
            }

            if (_start == _end)
            {
                // Nothing buffered: wait for the next bytes without holding the buffer, as Kestrel and YARP do
                // (a zero-byte read). Thousands of quiet streams would otherwise pin a buffer each between events.
                // A stream that cannot wait so completes the read at once, and the real read below waits instead.
                var ready = _stream.ReadAsync(Memory<byte>.Empty, cancellationToken);
                if (!ready.IsCompletedSuccessfully)
                {
                    ReturnBuffer(ref _buffer);
                    await ready.ConfigureAwait(false);
                    _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
                }
                else
                {
                    _ = ready.Result;
                }
            }

            var free = PrepareBufferForRead();
            var read = await _stream.ReadAsync(free, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                _endOfStream = true;
            }
            else
            {
                _end += read;
            }
        }
    }

    /// <summary>Returns the pooled buffers. Does not dispose the stream.</summary>
    /// <returns>A completed task.</returns>
    public ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            ReturnBuffer(ref _buffer);
            ReturnBuffer(ref _data);
        }

        return ValueTask.CompletedTask;
    }

    private static void ReturnBuffer(ref byte[]? buffer)
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = null;
        }
    }

    /// <summary>Processes complete lines already in the buffer until one yields an item.</summary>
    /// <returns><see langword="false"/> when more bytes are needed.</returns>
    private bool TryReadBufferedLines(out SseEvent item)
    {
        var buffer = _buffer!;
        while (true)
        {
            if (!_bomChecked && !TrySkipBom())
            {
                item = default;
                return false;
            }

            if (_skipLeadingLf && _start < _end)
            {
                _skipLeadingLf = false;
                if (buffer[_start] == Lf)
                {
                    _start++;
                    _scanned = _start;
                }
            }

            var index = buffer.AsSpan(_scanned, _end - _scanned).IndexOfAny(Cr, Lf);
            if (index < 0)
            {
                _scanned = _end;
                if ((long)_end - _start + _frameBytes > _maxEventBytes)
                {
                    throw TooLarge();
                }

                item = default;
                return false;
            }

            var lineEnd = _scanned + index;
            var next = lineEnd + 1;
            if (buffer[lineEnd] == Cr)
            {
                if (next < _end)
                {
                    if (buffer[next] == Lf)
                    {
                        next++;
                    }
                }
                else
                {
                    _skipLeadingLf = true;
                }
            }

            var lineStart = _start;
            _start = next;
            _scanned = next;
            if (ProcessLine(lineStart, lineEnd - lineStart, out item))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Skips a UTF-8 BOM at the very start of the stream (HTML spec: "One leading U+FEFF BYTE ORDER
    /// MARK character must be ignored if any are present").
    /// </summary>
    /// <returns><see langword="false"/> when too few bytes have arrived to decide.</returns>
    private bool TrySkipBom()
    {
        ReadOnlySpan<byte> bom = [0xEF, 0xBB, 0xBF];
        var available = _buffer.AsSpan(_start, _end - _start);
        if (available.Length < bom.Length && bom.StartsWith(available) && !_endOfStream)
        {
            return false;
        }

        if (available.StartsWith(bom))
        {
            _start += bom.Length;
            _scanned = _start;
        }

        _bomChecked = true;
        return true;
    }

    /// <summary>At the end of the stream: the last line without a line ending, then the pending frame.</summary>
    private bool ReadAtEndOfStream(out SseEvent item)
    {
        if (_start < _end)
        {
            var lineStart = _start;
            _start = _end;
            _scanned = _end;
            if (ProcessLine(lineStart, _end - lineStart, out item))
            {
                return true;
            }
        }

        return TryDispatch(out item);
    }

    /// <summary>Makes room after <c>_end</c>: reset when empty, compact when full, grow when still full.</summary>
    private Memory<byte> PrepareBufferForRead()
    {
        var buffer = _buffer!;
        if (_start == _end)
        {
            _start = _end = _scanned = 0;
            if (buffer.Length > RetainedBufferSize)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                _buffer = buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
            }
        }
        else if (_end == buffer.Length)
        {
            var length = _end - _start;
            if (_start > 0)
            {
                buffer.AsSpan(_start, length).CopyTo(buffer);
            }
            else
            {
                // The partial line fills the buffer. The size check in TryReadBufferedLines caps it at
                // _maxEventBytes, so the buffer never grows past twice that.
                var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * buffer.Length, Array.MaxLength));
                buffer.AsSpan(0, length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(buffer);
                _buffer = buffer = larger;
            }

            _scanned -= _start;
            _start = 0;
            _end = length;
        }

        return buffer.AsMemory(_end);
    }

    /// <summary>Applies one line, <c>_buffer[lineStart..(lineStart + lineLength))</c> without its line ending, to the frame being built.</summary>
    /// <returns><see langword="true"/> with <paramref name="item"/> set when the line yields a comment or dispatches a frame.</returns>
    private bool ProcessLine(int lineStart, int lineLength, out SseEvent item)
    {
        var line = _buffer.AsSpan(lineStart, lineLength);
        if (line.IsEmpty)
        {
            return TryDispatch(out item);
        }

        if (line[0] == (byte)':')
        {
            // A comment is not part of the frame, so it does not count toward the frame's size.
            if ((long)line.Length + _frameBytes > _maxEventBytes)
            {
                throw TooLarge();
            }

            // The text borrows _buffer, which only PrepareBufferForRead (in the next ReadAsync) changes.
            var text = _buffer.AsMemory(lineStart + 1, lineLength - 1);
            if (!text.IsEmpty && text.Span[0] == (byte)' ')
            {
                text = text[1..];
            }

            item = new SseEvent(null, ValidUtf8(text), null, IsComment: true);
            return true;
        }

        _frameBytes += line.Length;
        if (_frameBytes > _maxEventBytes)
        {
            throw TooLarge();
        }

        ReadOnlySpan<byte> name;
        ReadOnlySpan<byte> value;
        var colon = line.IndexOf((byte)':');
        if (colon < 0)
        {
            name = line;
            value = [];
        }
        else
        {
            name = line[..colon];
            value = StripOneSpace(line[(colon + 1)..]);
        }

        if (name.SequenceEqual("data"u8))
        {
            AppendData(value);
        }
        else if (name.SequenceEqual("event"u8))
        {
            _eventType = value.IsEmpty ? null : DecodeEventType(value);
        }
        else if (name.SequenceEqual("id"u8))
        {
            if (!value.Contains((byte)0))
            {
                _id = Encoding.UTF8.GetString(value);
            }
        }

        // "retry" and unknown fields are ignored: the gateway does not reconnect on the client's behalf.
        item = default;
        return false;
    }

    private static ReadOnlySpan<byte> StripOneSpace(ReadOnlySpan<byte> value) =>
        !value.IsEmpty && value[0] == (byte)' ' ? value[1..] : value;

    private static string DecodeEventType(ReadOnlySpan<byte> value)
    {
        foreach (var known in KnownEventTypes)
        {
            if (value.Length == known.Length && Ascii.Equals(value, known))
            {
                return known;
            }
        }

        return Encoding.UTF8.GetString(value);
    }

    private void AppendData(ReadOnlySpan<byte> value)
    {
        // _frameBytes <= _maxEventBytes bounds _dataLength, so the sum cannot overflow.
        var needed = _dataLength + value.Length + 1;
        if (_data is null || _data.Length < needed)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _data is null ? 256 : 2 * _data.Length));
            if (_data is not null)
            {
                _data.AsSpan(0, _dataLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_data);
            }

            _data = larger;
        }

        value.CopyTo(_data.AsSpan(_dataLength));
        _dataLength += value.Length;
        _data[_dataLength++] = Lf;
        _hasData = true;
    }

    /// <summary>
    /// Ends the frame. A frame with neither data lines nor an event type yields nothing (HTML spec:
    /// "If the data buffer is an empty string, set the data buffer and the event type buffer to the
    /// empty string and return"); unlike the spec, a frame with only an event type is delivered with
    /// empty data.
    /// </summary>
    private bool TryDispatch(out SseEvent item)
    {
        var dispatched = _hasData || _eventType is not null;

        // Drop the '\n' after the last data line, as the spec says. The data borrows _data until the next
        // ReadAsync, which returns a buffer grown past RetainedBufferSize to the pool.
        item = dispatched
            ? new SseEvent(_eventType, _hasData ? ValidUtf8(_data.AsMemory(0, _dataLength - 1)) : ReadOnlyMemory<byte>.Empty, _id, IsComment: false)
            : default;

        _dataLength = 0;
        _hasData = false;
        _eventType = null;
        _id = null;
        _frameBytes = 0;
        return dispatched;
    }

    /// <summary>
    /// <paramref name="utf8"/> itself when it is valid UTF-8 (the usual case: no copy); otherwise a new array
    /// with every invalid sequence replaced by U+FFFD, exactly as decoding to a string and encoding back did,
    /// so converters and relays only ever see valid UTF-8.
    /// </summary>
    private static ReadOnlyMemory<byte> ValidUtf8(ReadOnlyMemory<byte> utf8) =>
        Utf8.IsValid(utf8.Span) ? utf8 : Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(utf8.Span));

    private SseFormatException TooLarge() =>
        new($"An event in the stream exceeds the maximum size of {_maxEventBytes} bytes.");
}
