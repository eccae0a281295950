using System.Collections.Concurrent;
using System.Net;

namespace CcxProxy.Access;

/// <summary>
/// Slows down key guessing: a client address with too many failed authentications in a minute is refused
/// (429) before its key is even looked at, until the minute has passed. Per replica, in memory: it
/// protects the key store and makes brute force slow; it is not an exact shared limit.
/// A key that authenticated on this replica within the last hour is let through all the same, so someone
/// guessing from a shared address (an office NAT, an ingress without trusted forwarding) does not lock out
/// the valid keys used from there; a guesser gains nothing from it, since only keys already proven valid pass.
/// </summary>
public sealed class FailedAuthThrottle
{
    private static readonly TimeSpan s_window = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan s_knownGoodFor = TimeSpan.FromHours(1);
    private const int MaxTrackedAddresses = 100_000;
    private const int MaxKnownGoodKeys = 100_000;

    private readonly ConcurrentDictionary<IPAddress, Window> _failures = new();

    // Hashes (SHA-256, never the key) of keys that authenticated recently, with when.
    private readonly ConcurrentDictionary<UInt128, DateTimeOffset> _knownGood = new();
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

    /// <summary>Remembers that the key with this hash authenticated (<see cref="IsKnownGood"/>).</summary>
    public void Succeeded(ReadOnlySpan<byte> keyHash)
    {
        if (_knownGood.Count >= MaxKnownGoodKeys)
        {
            var cutoff = _time.GetUtcNow() - s_knownGoodFor;
            foreach (var (hash, at) in _knownGood)
            {
                if (at < cutoff)
                {
                    _knownGood.TryRemove(hash, out _);
                }
            }

            if (_knownGood.Count >= MaxKnownGoodKeys)
            {
                return;
            }
        }

        _knownGood[Id(keyHash)] = _time.GetUtcNow();
    }

    /// <summary>True when the key with this hash authenticated within the last hour: a throttled address may still use it.</summary>
    public bool IsKnownGood(ReadOnlySpan<byte> keyHash) =>
        _knownGood.TryGetValue(Id(keyHash), out var at) && _time.GetUtcNow() - at < s_knownGoodFor;

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
