namespace CcxProxy.Lifecycle;

/// <summary>
/// Where the process is in its shutdown: <see cref="IsDraining"/> (readiness false) from SIGTERM on, and
/// <see cref="DrainDeadline"/>, which fires when streams still running must be ended.
/// </summary>
public sealed class DrainState : IDisposable
{
    private readonly CancellationTokenSource _deadline = new();
    private int _draining;

    /// <summary>True once shutdown began: readiness answers 503.</summary>
    public bool IsDraining => Volatile.Read(ref _draining) == 1;

    /// <summary>Cancelled when the drain time is over: relays end their streams with an error event.</summary>
    public CancellationToken DrainDeadline => _deadline.Token;

    /// <summary>Marks the start of shutdown and arms the deadline.</summary>
    public void Begin(TimeSpan untilDeadline)
    {
        if (Interlocked.Exchange(ref _draining, 1) == 0)
        {
            _deadline.CancelAfter(untilDeadline);
        }
    }

    /// <inheritdoc />
    public void Dispose() => _deadline.Dispose();
}
