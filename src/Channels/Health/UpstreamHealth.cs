using System.Collections.Concurrent;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Health;

/// <summary>
/// A cooldown one replica learnt from an upstream (a <c>retry-after</c>, or a key refused with 401/403),
/// published so the other replicas skip that channel or key too.
/// </summary>
/// <param name="Channel">The channel's name.</param>
/// <param name="KeyFingerprint">The upstream key's fingerprint, or null when the whole channel cools.</param>
/// <param name="Until">When the cooldown ends.</param>
/// <param name="Reason">What the upstream said.</param>
public sealed record SharedCooldown(string Channel, string? KeyFingerprint, DateTimeOffset Until, FailureKind Reason);

/// <summary>
/// The health of every channel, upstream key and destination this replica has talked to: one
/// <see cref="CircuitBreaker"/> each. Cooldowns taken from an upstream are announced through
/// <see cref="CooldownStarted"/> and those learnt elsewhere are taken in through <see cref="Apply"/>.
/// </summary>
public sealed class UpstreamHealth
{
    private readonly ConcurrentDictionary<string, ChannelHealth> _channels = new(StringComparer.OrdinalIgnoreCase);
    private long _retainedVersion = -1;

    /// <summary>Creates the registry.</summary>
    public UpstreamHealth(BreakerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        Options = options;
        Time = time;
    }

    /// <summary>The breaker settings.</summary>
    public BreakerOptions Options { get; }

    /// <summary>The clock every breaker is read with.</summary>
    public TimeProvider Time { get; }

    /// <summary>Raised when this replica starts a cooldown from what an upstream said (not for <see cref="Apply"/>).</summary>
    public event Action<SharedCooldown>? CooldownStarted;

    /// <summary>Takes in a cooldown another replica learnt.</summary>
    public void Apply(SharedCooldown cooldown)
    {
        ArgumentNullException.ThrowIfNull(cooldown);
        var channel = _channels.GetOrAdd(cooldown.Channel, static (_, options) => new ChannelHealth(options), Options);
        var breaker = cooldown.KeyFingerprint is { } fingerprint ? channel.Key(fingerprint) : channel.Channel;
        breaker.Apply(Time.GetUtcNow(), cooldown.Until, cooldown.Reason);
    }

    /// <summary>The breakers of <paramref name="channel"/> (created on first use).</summary>
    public ChannelHealth For(ChannelConfig channel)
    {
        ArgumentNullException.ThrowIfNull(channel);
        return _channels.GetOrAdd(channel.Name, static (_, options) => new ChannelHealth(options), Options);
    }

    /// <summary>True when the channel's breaker and at least one of its keys and one of its destinations let an attempt through now.</summary>
    public bool IsAvailable(ChannelConfig channel)
    {
        var now = Time.GetUtcNow();
        var health = For(channel);
        return health.Channel.IsAvailable(now)
            && channel.ApiKeys.Any(k => health.Key(k.Fingerprint).IsAvailable(now))
            && channel.BaseUrls.Any(u => health.Destination(u).IsAvailable(now));
    }

    /// <summary>Forgets channels, keys and destinations that <paramref name="snapshot"/> no longer has (once per snapshot version).</summary>
    public void Retain(ChannelSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (Interlocked.Exchange(ref _retainedVersion, snapshot.Version) == snapshot.Version)
        {
            return;
        }

        foreach (var name in _channels.Keys)
        {
            if (snapshot.Find(name) is { } channel)
            {
                _channels[name].Retain(channel);
            }
            else
            {
                _channels.TryRemove(name, out _);
            }
        }
    }

    /// <summary>Every breaker of <paramref name="channel"/>, for the status page.</summary>
    public ChannelHealthReport Report(ChannelConfig channel)
    {
        var now = Time.GetUtcNow();
        var health = For(channel);
        return new ChannelHealthReport
        {
            Available = IsAvailable(channel),
            Channel = health.Channel.Report(now),
            Keys = channel.ApiKeys.Select(k => (k.Fingerprint, health.Key(k.Fingerprint).Report(now))).ToList(),
            Destinations = channel.BaseUrls.Select(u => (u.OriginalString, health.Destination(u).Report(now))).ToList(),
        };
    }

    /// <summary>Announces a cooldown this replica started.</summary>
    internal void Announce(SharedCooldown cooldown) => CooldownStarted?.Invoke(cooldown);
}

/// <summary>
/// The runtime state of one channel, kept apart from its configuration (a reload swaps the config, not this): the
/// breakers of the channel itself, of each upstream key (by fingerprint) and of each destination (by base URL),
/// and the position of its key rotation.
/// </summary>
public sealed class ChannelHealth
{
    private readonly BreakerOptions _options;
    private int _keyCursor;
    private readonly ConcurrentDictionary<string, CircuitBreaker> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CircuitBreaker> _destinations = new(StringComparer.Ordinal);

    internal ChannelHealth(BreakerOptions options)
    {
        _options = options;
        Channel = new CircuitBreaker(options);
    }

    /// <summary>The channel's own breaker: answers that were wrong (5xx, 529, broken streams).</summary>
    public CircuitBreaker Channel { get; }

    /// <summary>The breaker of the upstream key with <paramref name="fingerprint"/>: refusals and rate limits.</summary>
    public CircuitBreaker Key(string fingerprint) =>
        _keys.GetOrAdd(fingerprint, static (_, options) => new CircuitBreaker(options), _options);

    /// <summary>The breaker of the destination <paramref name="baseUrl"/>: connections refused, reset or silent.</summary>
    public CircuitBreaker Destination(Uri baseUrl) =>
        _destinations.GetOrAdd(baseUrl.AbsoluteUri, static (_, options) => new CircuitBreaker(options), _options);

    /// <summary>Round-robin over the channel's keys: each call gives the next index (thread-safe).</summary>
    /// <param name="count">How many keys the channel has now.</param>
    /// <returns>An index in 0..<paramref name="count"/>-1.</returns>
    public int NextKeyIndex(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        if (count == 1)
        {
            return 0;
        }

        var n = (uint)Interlocked.Increment(ref _keyCursor) - 1;
        return (int)(n % (uint)count);
    }

    internal void Retain(ChannelConfig channel)
    {
        foreach (var fingerprint in _keys.Keys)
        {
            if (!channel.ApiKeys.Any(k => k.Fingerprint == fingerprint))
            {
                _keys.TryRemove(fingerprint, out _);
            }
        }

        foreach (var url in _destinations.Keys)
        {
            if (!channel.BaseUrls.Any(u => u.AbsoluteUri == url))
            {
                _destinations.TryRemove(url, out _);
            }
        }
    }
}

/// <summary>A channel's breakers as the status page shows them.</summary>
public sealed record ChannelHealthReport
{
    /// <summary>True when the channel would take a request now.</summary>
    public required bool Available { get; init; }

    /// <summary>The channel's own breaker.</summary>
    public required BreakerReport Channel { get; init; }

    /// <summary>Each upstream key's breaker, by fingerprint, in file order.</summary>
    public required IReadOnlyList<(string Fingerprint, BreakerReport Breaker)> Keys { get; init; }

    /// <summary>Each destination's breaker, by base URL, in file order.</summary>
    public required IReadOnlyList<(string BaseUrl, BreakerReport Breaker)> Destinations { get; init; }
}
