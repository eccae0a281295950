using System.Diagnostics.CodeAnalysis;
using CcxProxy.Channels.Health;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Routing;

/// <summary>Where one upstream attempt goes: a channel, one of its keys and one of its base URLs.</summary>
public sealed class UpstreamTarget
{
    internal UpstreamTarget(ChannelConfig channel, UpstreamKey key, Uri baseUrl, int attempt, BreakerPermit channelPermit, BreakerPermit keyPermit, BreakerPermit destinationPermit)
    {
        Channel = channel;
        Key = key;
        BaseUrl = baseUrl;
        Attempt = attempt;
        ChannelPermit = channelPermit;
        KeyPermit = keyPermit;
        DestinationPermit = destinationPermit;
    }

    /// <summary>The channel.</summary>
    public ChannelConfig Channel { get; }

    /// <summary>The upstream key to present.</summary>
    public UpstreamKey Key { get; }

    /// <summary>The destination (one of the channel's base URLs).</summary>
    public Uri BaseUrl { get; }

    /// <summary>1 for the first attempt of the request, 2 for the first failover, and so on.</summary>
    public int Attempt { get; }

    /// <summary>True when this attempt is a half-open probe of the channel, its key or its destination.</summary>
    public bool IsProbe => ChannelPermit == BreakerPermit.Probe || KeyPermit == BreakerPermit.Probe || DestinationPermit == BreakerPermit.Probe;

    internal BreakerPermit ChannelPermit { get; }

    internal BreakerPermit KeyPermit { get; }

    internal BreakerPermit DestinationPermit { get; }

    internal bool Reported { get; set; }
}

/// <summary>How an attempt ended, for the breakers.</summary>
public readonly record struct AttemptReport
{
    private AttemptReport(bool abandoned, FailureKind? failure, TimeSpan? retryAfter)
    {
        IsAbandoned = abandoned;
        Failure = failure;
        RetryAfter = retryAfter;
    }

    /// <summary>The upstream answered properly (a client's own mistake, such as a 400, counts as answered).</summary>
    public static AttemptReport Success => default;

    /// <summary>The attempt says nothing about the upstream (the client left first).</summary>
    public static AttemptReport Abandoned => new(true, null, null);

    /// <summary>True for <see cref="Abandoned"/>.</summary>
    public bool IsAbandoned { get; }

    /// <summary>The failure's kind; null for success and abandoned attempts.</summary>
    public FailureKind? Failure { get; }

    /// <summary>How long the upstream asked to be left alone, when it said.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>A failed attempt.</summary>
    /// <param name="failure">What failed; never <see cref="FailureKind.None"/> (that is <see cref="Success"/>).</param>
    /// <param name="retryAfter">How long the upstream asked to be left alone, when it said.</param>
    /// <returns>The report.</returns>
    public static AttemptReport Failed(FailureKind failure, TimeSpan? retryAfter = null)
    {
        ArgumentOutOfRangeException.ThrowIfEqual(failure, FailureKind.None);
        return new(false, failure, retryAfter);
    }
}

/// <summary>Why no candidate could be tried at all: every one is cooling down or has its breaker open.</summary>
/// <param name="RetryAt">When the first of them takes requests again.</param>
/// <param name="Reason">What keeps that one out (rate limited, key refused, overloaded...).</param>
/// <param name="Channel">That channel's name.</param>
public sealed record RouteUnavailable(DateTimeOffset RetryAt, FailureKind Reason, string Channel);

/// <summary>
/// The attempts of one request: candidate channels in order, and within each its keys and destinations
/// (affinity order when the request has an affinity key, rotation otherwise), skipping whatever has its
/// breaker open. After a failure the next target depends on what failed: a refused or rate-limited key
/// moves to the channel's next key, an unreachable destination to its next destination, a bad answer to
/// the next channel. Used by one request at a time (not thread-safe); the breakers it feeds are shared.
/// </summary>
public sealed class RoutePlan
{
    private readonly UpstreamHealth _health;
    private readonly IReadOnlyList<ChannelConfig> _channels;
    private readonly ulong? _affinity;
    private readonly bool _forced;
    private readonly string? _caller;
    private readonly (int Key, int Destination)[]?[] _pairs;
    private readonly HashSet<(int Channel, int Key, int Destination)> _tried = [];

    // What failed in this request: a refused or rate-limited key, an unreachable destination; not tried again here.
    // Made on the first failure: most requests never fail, and a plan lives as long as its answer streams.
    private HashSet<(int Channel, int Key)>? _failedKeys;
    private HashSet<(int Channel, int Destination)>? _failedDestinations;
    private (int Channel, int Key, int Destination, FailureKind? Failure)? _last;

    /// <summary>Plans over <paramref name="candidates"/> (already in preference order).</summary>
    /// <param name="health">The shared breakers.</param>
    /// <param name="candidates">Candidate channels, preferred first.</param>
    /// <param name="affinity">The conversation's affinity key, or null to rotate keys and spread destinations.</param>
    /// <param name="forced">True when the caller chose the channel (<c>X-Channel</c>): breakers are not consulted.</param>
    /// <param name="caller">Who sent the request (a key id): one caller's failures alone never open a shared breaker
    /// (<see cref="CircuitBreaker.OnFailure"/>). Null when unknown.</param>
    public RoutePlan(UpstreamHealth health, IReadOnlyList<ChannelConfig> candidates, ulong? affinity, bool forced = false, string? caller = null)
    {
        _caller = caller;
        ArgumentNullException.ThrowIfNull(health);
        ArgumentNullException.ThrowIfNull(candidates);
        _health = health;
        _channels = candidates;
        _affinity = affinity;
        _forced = forced;
        _pairs = new (int, int)[]?[candidates.Count];
    }

    /// <summary>The candidate channels, preferred first.</summary>
    public IReadOnlyList<ChannelConfig> Candidates => _channels;

    /// <summary>Attempts handed out so far.</summary>
    public int Attempts { get; private set; }

    /// <summary>True when <see cref="TryNext"/> could find another target now, whatever the last failure was.</summary>
    public bool HasAlternative()
    {
        // Plain index loops, not Pairs(): working out an order would move the channel's key rotation.
        var now = _health.Time.GetUtcNow();
        for (var c = 0; c < _channels.Count; c++)
        {
            for (var k = 0; k < _channels[c].ApiKeys.Count; k++)
            {
                for (var d = 0; d < _channels[c].BaseUrls.Count; d++)
                {
                    if (Usable(c, k, d, now))
                    {
                        return true;
                    }
                }
            }
        }

        return false;
    }

    /// <summary>
    /// The next target, with its breakers entered (a half-open breaker gives this attempt its probe).
    /// Report every target handed out, whatever happens.
    /// </summary>
    public bool TryNext([NotNullWhen(true)] out UpstreamTarget? target)
    {
        var now = _health.Time.GetUtcNow();
        if (_last is { } last)
        {
            // A key or a destination that failed is excluded from the rest of the plan (Usable), so the same channel
            // is tried first with another key or destination; a bad answer moves on to the channels after it.
            // Then anything left.
            var stay = last.Failure is { } failed && FailoverPolicy.Blame(failed) is FailureBlame.Key or FailureBlame.Destination;
            if ((stay && TryEnter(last.Channel, last.Channel + 1, now, out target))
                || TryEnter(last.Channel + 1, _channels.Count, now, out target))
            {
                return true;
            }
        }

        return TryEnter(0, _channels.Count, now, out target);
    }

    /// <summary>Feeds the attempt's outcome to the breakers of its channel, key and destination.</summary>
    public void Report(UpstreamTarget target, AttemptReport report)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (target.Reported)
        {
            return;
        }

        target.Reported = true;
        var now = _health.Time.GetUtcNow();
        var health = _health.For(target.Channel);
        var channel = health.Channel;
        var key = health.Key(target.Key.Fingerprint);
        var destination = health.Destination(target.BaseUrl);
        if (_last is { } last)
        {
            _last = last with { Failure = report.Failure };
            var blame = report.Failure is { } failed ? FailoverPolicy.Blame(failed) : FailureBlame.Channel;
            if (blame == FailureBlame.Key)
            {
                (_failedKeys ??= []).Add((last.Channel, last.Key));
            }
            else if (blame == FailureBlame.Destination)
            {
                (_failedDestinations ??= []).Add((last.Channel, last.Destination));
            }
        }

        if (report.IsAbandoned)
        {
            channel.OnAbandoned(target.ChannelPermit);
            key.OnAbandoned(target.KeyPermit);
            destination.OnAbandoned(target.DestinationPermit);
            return;
        }

        if (report.Failure is not { } failure)
        {
            channel.OnSuccess(now, target.ChannelPermit);
            key.OnSuccess(now, target.KeyPermit);
            destination.OnSuccess(now, target.DestinationPermit);
            return;
        }

        var retryAt = report.RetryAfter is { } wait && wait > TimeSpan.Zero ? now + wait : (DateTimeOffset?)null;
        switch (failure)
        {
            case FailureKind.KeyRejected:
                if (key.Reject(now, _caller, target.KeyPermit) is { } keyBackAt)
                {
                    _health.Announce(new SharedCooldown(target.Channel.Name, target.Key.Fingerprint, keyBackAt, failure));
                }

                channel.OnAbandoned(target.ChannelPermit);
                destination.OnSuccess(now, target.DestinationPermit);
                break;

            case FailureKind.RateLimited:
                if (retryAt is { } keyUntil)
                {
                    _health.Announce(new SharedCooldown(target.Channel.Name, target.Key.Fingerprint, key.CoolDown(now, keyUntil, failure), failure));
                }
                else
                {
                    key.OnFailure(now, target.KeyPermit, failure, _caller);
                }

                channel.OnAbandoned(target.ChannelPermit);
                destination.OnSuccess(now, target.DestinationPermit);
                break;

            case FailureKind.Unreachable or FailureKind.HeadersTimeout:
                destination.OnFailure(now, target.DestinationPermit, failure, _caller);
                channel.OnAbandoned(target.ChannelPermit);
                key.OnAbandoned(target.KeyPermit);
                break;

            default:
                if (failure == FailureKind.Overloaded && retryAt is { } channelUntil)
                {
                    _health.Announce(new SharedCooldown(target.Channel.Name, null, channel.CoolDown(now, channelUntil, failure), failure));
                }
                else
                {
                    channel.OnFailure(now, target.ChannelPermit, failure, _caller);
                }

                key.OnAbandoned(target.KeyPermit);
                destination.OnSuccess(now, target.DestinationPermit);
                break;
        }
    }

    /// <summary>
    /// When nothing could be tried: which candidate takes requests again first, when, and what keeps it out.
    /// Null when there are no candidates.
    /// </summary>
    public RouteUnavailable? Unavailable()
    {
        var now = _health.Time.GetUtcNow();
        RouteUnavailable? soonest = null;
        foreach (var channel in _channels)
        {
            var health = _health.For(channel);
            var (at, reason) = (health.Channel.AvailableAt(now), health.Channel.OpenReason);
            var (keyAt, keyReason) = Earliest(channel.ApiKeys.Select(k => health.Key(k.Fingerprint)), now);
            var (destinationAt, destinationReason) = Earliest(channel.BaseUrls.Select(health.Destination), now);
            if (keyAt > at)
            {
                (at, reason) = (keyAt, keyReason);
            }

            if (destinationAt > at)
            {
                (at, reason) = (destinationAt, destinationReason);
            }

            if (soonest is null || at < soonest.RetryAt)
            {
                soonest = new RouteUnavailable(at, reason ?? FailureKind.ServerError, channel.Name);
            }
        }

        return soonest;
    }

    private static (DateTimeOffset At, FailureKind? Reason) Earliest(IEnumerable<CircuitBreaker> breakers, DateTimeOffset now)
    {
        (DateTimeOffset At, FailureKind? Reason)? earliest = null;
        foreach (var breaker in breakers)
        {
            var at = breaker.AvailableAt(now);
            if (earliest is null || at < earliest.Value.At)
            {
                earliest = (at, breaker.OpenReason);
            }
        }

        return earliest ?? (now, null);
    }

    private bool TryEnter(int from, int to, DateTimeOffset now, [NotNullWhen(true)] out UpstreamTarget? target)
    {
        for (var c = from; c < to; c++)
        {
            foreach (var (k, d) in Pairs(c))
            {
                if (!Usable(c, k, d, now))
                {
                    continue;
                }

                _tried.Add((c, k, d));
                if (Enter(c, k, d, now) is { } entered)
                {
                    Attempts++;
                    _last = (c, k, d, null);
                    target = entered;
                    return true;
                }
            }
        }

        target = null;
        return false;
    }

    private bool Usable(int c, int k, int d, DateTimeOffset now)
    {
        if (_tried.Contains((c, k, d)) || _failedKeys?.Contains((c, k)) == true || _failedDestinations?.Contains((c, d)) == true)
        {
            return false;
        }

        if (_forced)
        {
            return true;
        }

        var channel = _channels[c];
        var health = _health.For(channel);
        return health.Channel.IsAvailable(now)
            && health.Key(channel.ApiKeys[k].Fingerprint).IsAvailable(now)
            && health.Destination(channel.BaseUrls[d]).IsAvailable(now);
    }

    /// <summary>Enters the three breakers; when one refuses (another request took its probe), gives back the others.</summary>
    private UpstreamTarget? Enter(int c, int k, int d, DateTimeOffset now)
    {
        var channel = _channels[c];
        var key = channel.ApiKeys[k];
        var baseUrl = channel.BaseUrls[d];
        if (_forced)
        {
            return new UpstreamTarget(channel, key, baseUrl, Attempts + 1, BreakerPermit.Allowed, BreakerPermit.Allowed, BreakerPermit.Allowed);
        }

        var health = _health.For(channel);
        var channelPermit = health.Channel.TryEnter(now);
        var keyPermit = channelPermit == BreakerPermit.Denied ? BreakerPermit.Denied : health.Key(key.Fingerprint).TryEnter(now);
        var destinationPermit = keyPermit == BreakerPermit.Denied ? BreakerPermit.Denied : health.Destination(baseUrl).TryEnter(now);
        if (destinationPermit != BreakerPermit.Denied)
        {
            return new UpstreamTarget(channel, key, baseUrl, Attempts + 1, channelPermit, keyPermit, destinationPermit);
        }

        health.Channel.OnAbandoned(channelPermit);
        health.Key(key.Fingerprint).OnAbandoned(keyPermit);
        return null;
    }

    /// <summary>The channel's (key, destination) pairs in preference order, key-major: computed once per request.</summary>
    private (int Key, int Destination)[] Pairs(int c)
    {
        if (_pairs[c] is { } pairs)
        {
            return pairs;
        }

        var channel = _channels[c];
        var health = _health.For(channel);
        var keys = Order(channel.ApiKeys.Count, i => channel.ApiKeys[i].Fingerprint, () => health.NextKeyIndex(channel.ApiKeys.Count));
        var destinations = Order(channel.BaseUrls.Count, i => channel.BaseUrls[i].AbsoluteUri, () => Random.Shared.Next(channel.BaseUrls.Count));
        pairs = new (int, int)[keys.Length * destinations.Length];
        var n = 0;
        foreach (var k in keys)
        {
            foreach (var d in destinations)
            {
                pairs[n++] = (k, d);
            }
        }

        return _pairs[c] = pairs;
    }

    /// <summary>Indices 0..count-1: by rendezvous score with an affinity key, else rotated to start at <paramref name="start"/>.</summary>
    private int[] Order(int count, Func<int, string> id, Func<int> start)
    {
        var order = new int[count];
        if (count == 1)
        {
            return order;
        }

        if (_affinity is { } affinity)
        {
            for (var i = 0; i < count; i++)
            {
                order[i] = i;
            }

            Rendezvous.Order(order.AsSpan(), affinity, id, static _ => 1);
            return order;
        }

        var first = start();
        for (var i = 0; i < count; i++)
        {
            order[i] = (first + i) % count;
        }

        return order;
    }
}
