using System.IO.Pipelines;
using CcxProxy.Transforms.Conversion;

namespace CcxProxy.Transforms.Adapter;

/// <summary>
/// The clock of one relayed stream: a single timer that sends the client a keep-alive while the upstream is silent
/// and ends a read that waits past its deadline (idle, or first content). It replaces a timer armed and a task
/// made per upstream read: a trickled stream touches no timer per event, only two timestamps and an uncontended
/// lock (bench/README.md, "Trickling streams").
/// </summary>
/// <remarks>
/// The relay owns the client's writer except while it waits for the upstream (<see cref="BeginRead"/> to
/// <see cref="EndReadAsync"/>); only then may the timer write a keep-alive, so the two never write at once. The
/// timer is lazy: it is armed for the earliest thing that could be due, and when it fires early (events came in
/// the meantime) it re-arms for what is due now. A read's deadline never moves earlier than the one before it
/// (the first-content budget only shrinks, the idle wait restarts later), so the relay re-arms only when nothing
/// earlier is armed.
/// </remarks>
internal sealed class StreamTimers : IDisposable
{
    // Not disposed, like the deadline's source: a timer callback already running may still touch them, and
    // neither holds anything to release (no wait handle, no timer).
    private readonly SemaphoreSlim _writer = new(0, 1);
    private readonly CancellationTokenSource _deadline = new();

    // Guards the timestamps below and the arming of the timer, so that the relay starting a read and the timer
    // re-arming itself never lose each other's update. Taken once per event, uncontended but for a tick.
    private readonly Lock _arming = new();
    private readonly ITimer _timer;
    private readonly TimeProvider _time;
    private readonly TimeSpan _pingInterval;
    private readonly IStreamConverter _converter;
    private readonly PipeWriter _client;
    private readonly CancellationToken _clientGone;

    // Timestamps of the call's clock; long.MaxValue = not due.
    private long _readDeadline = long.MaxValue;
    private long _nextPing = long.MaxValue;
    private long _armedFor = long.MaxValue;
    private bool _keepAlives;
    private bool _disposed;
    private volatile bool _firstContentDeadline;

    /// <summary>Holds the writer for the relay; no keep-alive goes out until <see cref="StartKeepAlives"/>.</summary>
    /// <param name="time">The call's clock.</param>
    /// <param name="pingInterval">How long the client may see nothing before it gets a keep-alive.</param>
    /// <param name="converter">Writes the keep-alive in the client's protocol.</param>
    /// <param name="client">The client's body.</param>
    /// <param name="clientGone">Cancelled when the client goes away.</param>
    public StreamTimers(TimeProvider time, TimeSpan pingInterval, IStreamConverter converter, PipeWriter client, CancellationToken clientGone)
    {
        _time = time;
        _pingInterval = pingInterval;
        _converter = converter;
        _client = client;
        _clientGone = clientGone;

        // The request's async locals are not needed to write a keep-alive, and a timer should not hold them.
        using (ExecutionContext.SuppressFlow())
        {
            _timer = time.CreateTimer(static state => ((StreamTimers)state!).OnTick(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>Cancelled when a read waited past its deadline.</summary>
    public CancellationToken Deadline => _deadline.Token;

    /// <summary>True when the deadline that fired was the first-content budget rather than the idle timeout.</summary>
    public bool FirstContentDeadline => _firstContentDeadline;

    /// <summary>From now on, a silence of the ping interval sends the client a keep-alive (its headers are out).</summary>
    public void StartKeepAlives()
    {
        lock (_arming)
        {
            var now = _time.GetTimestamp();
            _keepAlives = true;
            _nextPing = At(now, _pingInterval);
            Arm(now);
        }
    }

    /// <summary>The relay waits for the upstream now, for at most <paramref name="wait"/>; the timer may write meanwhile.</summary>
    /// <param name="wait">How long the read may wait; <see cref="Timeout.InfiniteTimeSpan"/> for ever.</param>
    /// <param name="firstContent">True when <paramref name="wait"/> is what is left of the first-content budget.</param>
    public void BeginRead(TimeSpan wait, bool firstContent)
    {
        _firstContentDeadline = firstContent;
        lock (_arming)
        {
            var now = _time.GetTimestamp();
            _readDeadline = At(now, wait);
            if (_keepAlives)
            {
                // A keep-alive is due a ping interval after the client last got something: what the relay just wrote.
                _nextPing = At(now, _pingInterval);
            }

            // Usually the timer is armed for something earlier already, and fires early once to re-arm.
            if (Math.Min(_readDeadline, _nextPing) < _armedFor)
            {
                Arm(now);
            }

            // Inside the lock: a tick never finds a keep-alive due and the writer not yet handed over.
            _writer.Release();
        }
    }

    /// <summary>The read is over: the relay has the writer back once a keep-alive being written is out.</summary>
    public ValueTask EndReadAsync()
    {
        Volatile.Write(ref _readDeadline, long.MaxValue);
        var wait = _writer.WaitAsync(CancellationToken.None);
        return wait.IsCompletedSuccessfully ? ValueTask.CompletedTask : new ValueTask(wait);
    }

    /// <summary>Stops the timer. The relay holds the writer, so no keep-alive is being written.</summary>
    public void Dispose()
    {
        lock (_arming)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    private void OnTick()
    {
        bool expired = false, ping = false;
        lock (_arming)
        {
            if (_disposed)
            {
                return;
            }

            // The timer may fire a little early (its clock is coarser than the timestamps): what is due within the
            // slack is due now, rather than re-armed for a remainder that fires again at once.
            var now = _time.GetTimestamp();
            if (now + Slack >= _readDeadline)
            {
                expired = true;
            }
            else if (now + Slack >= _nextPing && _writer.Wait(0))
            {
                // The relay is waiting for the upstream: the writer is ours until the keep-alive is out.
                ping = true;
                _nextPing = long.MaxValue;
            }
            else
            {
                // Nothing due yet; or a keep-alive is due but the relay is writing, and its next read sets the next one.
                Arm(now);
            }
        }

        if (expired)
        {
            // Outside the lock: cancelling runs the read's callbacks, which may go on with the relay at once.
            _deadline.Cancel();
        }
        else if (ping)
        {
            _ = PingAsync();
        }
    }

    private async Task PingAsync()
    {
        try
        {
            _converter.Ping(_client);
            await _client.FlushAsync(_clientGone).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone: the relay learns it from its own read or write.
        }
        finally
        {
            lock (_arming)
            {
                var now = _time.GetTimestamp();
                _nextPing = At(now, _pingInterval);
                Arm(now);

                // The relay's waiter, if any, goes on asynchronously (SemaphoreSlim runs its continuations so).
                _writer.Release();
            }
        }
    }

    // Arms the timer for the earliest of the read's deadline and the next keep-alive; a keep-alive already due (the
    // relay is writing) waits for the relay's next read, which sets the next one. Called under the lock.
    // 5 ms: more than the timer's clock may be early by, far less than any timeout or keep-alive interval.
    private long Slack => _time.TimestampFrequency / 200;

    private void Arm(long now)
    {
        if (_disposed)
        {
            return;
        }

        var due = Math.Min(_readDeadline, _nextPing > now + Slack ? _nextPing : long.MaxValue);
        _armedFor = due;
        var wait = due == long.MaxValue
            ? Timeout.InfiniteTimeSpan
            : TimeSpan.FromMilliseconds(Math.Ceiling(Math.Max(0, due - now) * 1000d / _time.TimestampFrequency));
        _timer.Change(wait, Timeout.InfiniteTimeSpan);
    }

    private long At(long now, TimeSpan after) =>
        after == Timeout.InfiniteTimeSpan ? long.MaxValue : now + (long)(after.TotalSeconds * _time.TimestampFrequency);
}
