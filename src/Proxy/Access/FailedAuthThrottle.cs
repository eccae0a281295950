using System.Collections.Concurrent;
using System.Net;

namespace CcxProxy.Access;

/// <summary>
/// Slows down key guessing: a client address with too many failed authentications in a minute is refused
/// (429) before its key is even looked at, until the minute has passed. Per replica, in memory: it
/// protects the key store and makes brute force slow; it is not an exact shared limit.
/// A key that authenticated from the same address on this replica within the last hour is let through all the
/// same, so someone guessing from a shared address (an office NAT, an ingress without trusted forwarding) does
/// not lock out the valid keys used from there; a guesser gains nothing from it, since only keys already proven
/// valid from that address pass, and every other key it tries is still refused unseen.
/// </summary>
public sealed class FailedAuthThrottle
{
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan s_knownGoodFor = TimeSpan.FromHours(1);
    private const int MaxTrackedAddresses = 100_000;
    private const int MaxKnownGoodKeys = 100_000;

    private readonly ConcurrentDictionary<IPAddress, Window> _failures = new();

    // Keys (their SHA-256, never the key) that authenticated recently from an address, with when. Per address:
    // a key proven from one address does not let another address guess past the throttle.
    private readonly ConcurrentDictionary<(IPAddress Address, UInt128 Key), DateTimeOffset> _knownGood = new();
    private int _knownGoodCount;
    private readonly TimeProvider _time;
    private readonly int _maxFailures;

    /// <summary>Creates the throttle.</summary>
    /// <param name="time">The clock.</param>
    /// <param name="maxFailuresPerMinute">Failures allowed per address per minute (<c>Access:MaxFailedAuthPerMinute</c>).</param>
    public FailedAuthThrottle(TimeProvider time, int maxFailuresPerMinute)
    {
        _time = time;
        _maxFailures = maxFailuresPerMinute;
    }

    /// <summary>When the address must wait, how long; null when it may try.</summary>
    public TimeSpan? RetryAfter(IPAddress? address)
    {
        if (address is null || !_failures.TryGetValue(address, out var window))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        lock (window)
        {
            if (now - window.Start >= s_window)
            {
                return null;
            }

            return window.Count >= _maxFailures ? window.Start + s_window - now : null;
        }
    }

    /// <summary>Remembers that the key with this hash authenticated from <paramref name="address"/> (<see cref="IsKnownGood"/>).</summary>
    public void Succeeded(IPAddress? address, ReadOnlySpan<byte> keyHash)
    {
        if (address is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        var entry = (address, Id(keyHash));
        // Most requests come from a key already remembered a moment ago: no write then (and no lock taken).
        if (_knownGood.TryGetValue(entry, out var at) && now - at < TimeSpan.FromMinutes(1))
        {
            return;
        }

        if (Volatile.Read(ref _knownGoodCount) >= MaxKnownGoodKeys)
        {
            PruneKnownGood(now);
            if (Volatile.Read(ref _knownGoodCount) >= MaxKnownGoodKeys)
            {
                return;
            }
        }

        if (_knownGood.TryAdd(entry, now))
        {
            Interlocked.Increment(ref _knownGoodCount);
        }
        else
        {
            _knownGood[entry] = now;
        }
    }

    /// <summary>
    /// True when the key with this hash authenticated from <paramref name="address"/> within the last hour: that
    /// address may still use it while throttled. Keys proven from other addresses do not count.
    /// </summary>
    public bool IsKnownGood(IPAddress? address, ReadOnlySpan<byte> keyHash) =>
        address is not null && _knownGood.TryGetValue((address, Id(keyHash)), out var at) && _time.GetUtcNow() - at < s_knownGoodFor;

    private void PruneKnownGood(DateTimeOffset now)
    {
        foreach (var (entry, at) in _knownGood)
        {
            if (now - at >= s_knownGoodFor && _knownGood.TryRemove(entry, out _))
            {
                Interlocked.Decrement(ref _knownGoodCount);
            }
        }
    }

    private static UInt128 Id(ReadOnlySpan<byte> hash) => System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);

    /// <summary>Counts one failed authentication from the address.</summary>
    public void Failed(IPAddress? address)
    {
        if (address is null)
        {
            return;
        }

        if (_failures.Count >= MaxTrackedAddresses)
        {
            Prune();
        }

        var now = _time.GetUtcNow();
        var window = _failures.GetOrAdd(address, _ => new Window { Start = now });
        lock (window)
        {
            if (now - window.Start >= s_window)
            {
                window.Start = now;
                window.Count = 0;
            }

            window.Count++;
        }
    }

    private void Prune()
    {
        var now = _time.GetUtcNow();
        foreach (var (address, window) in _failures)
        {
            if (now - window.Start >= s_window)
            {
                _failures.TryRemove(address, out _);
            }
        }
    }

    private sealed class Window
    {
        public DateTimeOffset Start { get; set; }

        public int Count { get; set; }
    }
}
