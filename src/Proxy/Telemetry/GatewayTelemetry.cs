using System.Diagnostics;
using System.Diagnostics.Metrics;
using CcxProxy.Channels;
using CcxProxy.Channels.Health;
using CcxProxy.Redis;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Telemetry;

/// <summary>
/// The gateway's own traces and metrics, on the activity source and meter <c>CcxProxy</c>, named after
/// OpenTelemetry's <c>gen_ai.*</c> semantic conventions where they have a name. Nothing is measured while
/// nobody listens: every recording is behind the instrument's <c>Enabled</c>.
/// </summary>
internal sealed class GatewayTelemetry
{
    /// <summary>The activity source and meter name.</summary>
    public const string Name = "CcxProxy";

    /// <summary>The source of the per-attempt spans (the server span is ASP.NET Core's own, tagged here).</summary>
    public static readonly ActivitySource Source = new(Name);

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _timeToFirstByte;
    private readonly Histogram<long> _tokenUsage;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _rateLimited;
    private readonly UpDownCounter<long> _activeStreams;

    public GatewayTelemetry(IMeterFactory meterFactory, IChannelStore channels, UpstreamHealth health, RedisConnection redis)
    {
        Meter = meterFactory.Create(Name);
        _requests = Meter.CreateCounter<long>("ccx.requests", "{request}", "API requests by route, group, channel, model, status, error type and, where the group caches answers, ccx.cache (hit, miss, bypass).");
        _duration = Meter.CreateHistogram<double>("gen_ai.server.request.duration", "s", "Time from the request's arrival to the end of its answer (the last event of a stream).");
        _timeToFirstByte = Meter.CreateHistogram<double>("ccx.server.time_to_first_byte", "s", "Time from the request's arrival to its response headers going out.");
        _timeToFirstToken = Meter.CreateHistogram<double>("gen_ai.server.time_to_first_token", "s", "Streams: time from the request's arrival to the first content event sent to the client.");
        _tokenUsage = Meter.CreateHistogram<long>("gen_ai.client.token.usage", "{token}", "Tokens per request, by gen_ai.token.type (input, output), as the upstream reported them.");
        _tokens = Meter.CreateCounter<long>("ccx.tokens", "{token}", "Tokens by type: input, output, cache_read, cache_write.");
        _attempts = Meter.CreateCounter<long>("ccx.upstream.attempts", "{attempt}", "Upstream attempts by channel and outcome (success, or the failure kind).");
        _rateLimited = Meter.CreateCounter<long>("ccx.ratelimit.rejections", "{request}", "Requests refused by the caller's own limits (429) or quota (402).");
        _activeStreams = Meter.CreateUpDownCounter<long>("ccx.streams.active", "{stream}", "Streamed answers being relayed now.");
        Meter.CreateObservableGauge("ccx.breaker.state", () => BreakerStates(channels.Current, health), "{state}",
            "Circuit breakers: 0 closed, 1 half-open, 2 open; by channel and scope (channel, key fingerprint, destination).");
        Meter.CreateObservableGauge("ccx.config.version", () => channels.Current.Version, "{version}", "Version of the live channel configuration; goes up with every accepted change.");
        Meter.CreateObservableGauge("ccx.config.rejected_files", () => channels.Current.Rejected.Count, "{file}", "Channel files whose current content was rejected.");
        Meter.CreateObservableGauge("ccx.redis.available", () => redis.IsConfigured ? (redis.IsConnected ? 1 : 0) : 1, "{state}",
            "1 when Redis is connected (or not configured), 0 while it is configured but unreachable.");
    }

    /// <summary>The meter (tests listen to this instance).</summary>
    public Meter Meter { get; }

    /// <summary>A stream starts being relayed; dispose the result when it ends.</summary>
    public StreamScope StreamStarted()
    {
        if (!_activeStreams.Enabled)
        {
            return default;
        }

        _activeStreams.Add(1);
        return new StreamScope(_activeStreams);
    }

    /// <summary>Counts a request refused by the caller's own limits.</summary>
    public void RateLimited(RequestRecord record, int status)
    {
        if (_rateLimited.Enabled)
        {
            _rateLimited.Add(1, new("ccx.group", record.Group), new("http.response.status_code", status));
        }
    }

    /// <summary>Counts one upstream attempt.</summary>
    public void Attempt(string channel, FailureKind? failure)
    {
        if (_attempts.Enabled)
        {
            _attempts.Add(1, new("ccx.channel", channel), new("ccx.outcome", failure?.Name() ?? "success"));
        }
    }

    /// <summary>Records a finished request.</summary>
    public void RequestEnded(RequestRecord record, string route, int status, double seconds)
    {
        if (!_requests.Enabled && !_duration.Enabled && !_tokens.Enabled && !_tokenUsage.Enabled && !_timeToFirstToken.Enabled && !_timeToFirstByte.Enabled)
        {
            return;
        }

        var tags = new TagList
        {
            { "ccx.route", route },
            { "ccx.group", record.Group },
            { "ccx.channel", record.Channel },
            { "gen_ai.request.model", record.Model },
            { "http.response.status_code", status },
        };
        if (record.ErrorType is { } error)
        {
            tags.Add("error.type", error);
        }

        if (record.Cache is { } cache)
        {
            tags.Add("ccx.cache", cache);
        }

        _requests.Add(1, tags);
        _duration.Record(seconds, tags);
        if (record.FirstByteTimestamp is { } firstByte)
        {
            _timeToFirstByte.Record(record.Time.GetElapsedTime(record.StartedTimestamp, firstByte).TotalSeconds, tags);
        }

        if (record.FirstTokenTimestamp is { } first)
        {
            _timeToFirstToken.Record(record.Time.GetElapsedTime(record.StartedTimestamp, first).TotalSeconds, tags);
        }

        if (record.Usage is { } usage)
        {
            Tokens(tags, "input", usage.InputTokens);
            Tokens(tags, "output", usage.OutputTokens);
            Tokens(tags, "cache_read", usage.CacheReadInputTokens);
            Tokens(tags, "cache_write", usage.CacheCreationInputTokens);
        }
    }

    private void Tokens(TagList tags, string type, long count)
    {
        if (count <= 0)
        {
            return;
        }

        tags.Add("gen_ai.token.type", type);
        _tokens.Add(count, tags);
        if (type is "input" or "output")
        {
            _tokenUsage.Record(count, tags);
        }
    }

    private static IEnumerable<Measurement<int>> BreakerStates(ChannelSnapshot snapshot, UpstreamHealth health)
    {
        foreach (var channel in snapshot.Channels)
        {
            var report = health.Report(channel);
            yield return State(report.Channel, channel.Name, "channel", channel.Name);
            foreach (var (fingerprint, breaker) in report.Keys)
            {
                yield return State(breaker, channel.Name, "key", fingerprint);
            }

            foreach (var (baseUrl, breaker) in report.Destinations)
            {
                yield return State(breaker, channel.Name, "destination", baseUrl);
            }
        }
    }

    private static Measurement<int> State(BreakerReport breaker, string channel, string scope, string target) => new(
        breaker.State switch { BreakerState.Open => 2, BreakerState.HalfOpen => 1, _ => 0 },
        new("ccx.channel", channel), new("ccx.breaker.scope", scope), new("ccx.breaker.target", target));

    /// <summary>Ends a stream's count in <c>ccx.streams.active</c> when disposed.</summary>
    public readonly struct StreamScope(UpDownCounter<long>? counter) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose() => counter?.Add(-1);
    }
}
