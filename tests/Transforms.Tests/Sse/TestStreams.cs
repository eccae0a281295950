namespace CcxProxy.Transforms.Tests.Sse;

/// <summary>A read-only, non-seekable stream over fixed bytes; subclasses decide how much each read returns.</summary>
public abstract class ReadOnlyTestStream : Stream
{
    private readonly byte[] _data;
    private int _position;
    private int _readIndex;

    protected ReadOnlyTestStream(byte[] data) => _data = data;

    public int ReadCount { get; private set; }

    /// <summary>Bytes not yet read.</summary>
    protected int Remaining => _data.Length - _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>How many bytes read number <paramref name="readIndex"/> may return at most.</summary>
    protected abstract int ChunkSize(int readIndex, int remaining);

    protected virtual bool YieldOnRead => false;

    public override int Read(Span<byte> buffer)
    {
        ReadCount++;
        var remaining = _data.Length - _position;
        if (remaining == 0 || buffer.IsEmpty)
        {
            return 0;
        }

        var count = Math.Min(Math.Min(buffer.Length, remaining), Math.Max(1, ChunkSize(_readIndex++, remaining)));
        _data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (YieldOnRead)
        {
            await Task.Yield();
        }

        return Read(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Returns ONE byte per read, completing each read asynchronously, like runtime's SseParserTests trickle stream.</summary>
public sealed class TrickleStream(byte[] data) : ReadOnlyTestStream(data)
{
    protected override int ChunkSize(int readIndex, int remaining) => 1;

    protected override bool YieldOnRead => true;
}

/// <summary>Returns everything the caller's buffer can hold on each read.</summary>
public sealed class WholeStream(byte[] data) : ReadOnlyTestStream(data)
{
    protected override int ChunkSize(int readIndex, int remaining) => remaining;
}

/// <summary>Returns the bytes in reads of the given sizes, then the rest in one read.</summary>
public sealed class ChunkedStream(byte[] data, params int[] chunkSizes) : ReadOnlyTestStream(data)
{
    /// <summary>Two reads: bytes [0, k) then [k, end). An empty first part is skipped.</summary>
    public static ChunkedStream SplitAt(byte[] data, int k) => new(data, k == 0 ? [] : [k]);

    protected override int ChunkSize(int readIndex, int remaining) =>
        readIndex < chunkSizes.Length ? chunkSizes[readIndex] : remaining;
}

/// <summary>Returns its bytes in one read, then never completes another read until cancelled (an idle upstream).</summary>
public sealed class StallingStream(byte[] data) : ReadOnlyTestStream(data)
{
    protected override int ChunkSize(int readIndex, int remaining) => remaining;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A zero-byte read says "wait until there are bytes", as a socket's does: at once while some remain.
        if (buffer.IsEmpty && Remaining > 0)
        {
            return 0;
        }

        var read = await base.ReadAsync(buffer, cancellationToken);
        if (read > 0)
        {
            return read;
        }

        await Task.Delay(Timeout.Infinite, cancellationToken);
        return 0;
    }
}

/// <summary>
/// Holds every read, a zero-byte one included, until <see cref="Open"/> (as a socket's read waits for bytes), then
/// returns everything the caller's buffer can hold. Records the size of every read asked for.
/// </summary>
public sealed class GatedStream(byte[] data) : ReadOnlyTestStream(data)
{
    private readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _waiting = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public List<int> ReadSizes { get; } = [];

    /// <summary>Completes when a read is waiting for <see cref="Open"/>.</summary>
    public Task Waiting => _waiting.Task;

    public void Open() => _open.TrySetResult();

    protected override int ChunkSize(int readIndex, int remaining) => remaining;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ReadSizes.Add(buffer.Length);
        if (!_open.Task.IsCompleted)
        {
            _waiting.TrySetResult();
            await _open.Task.WaitAsync(cancellationToken);
        }

        return await base.ReadAsync(buffer, cancellationToken);
    }
}
