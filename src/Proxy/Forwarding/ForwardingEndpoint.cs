using System.Diagnostics;
using System.Text;
using CcxProxy.Access;
using CcxProxy.Caching;
using CcxProxy.Channels;
using CcxProxy.Channels.Health;
using CcxProxy.Channels.Routing;
using CcxProxy.Errors;
using CcxProxy.Hosting;
using CcxProxy.Limits;
using CcxProxy.Routing;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.AnthropicToOpenAI;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using CcxProxy.Usage;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Forwarding;

/// <summary>
/// The forwarded APIs (<c>/v1/messages</c>, <c>/v1/messages/count_tokens</c>, <c>/v1/chat/completions</c>,
/// <c>/v1/completions</c>): authenticate, read and check the body once, pick a channel for the caller's
/// group and model (of either protocol), build the upstream call (<see cref="Routes"/>) and forward it
/// through YARP to the channel's cluster.
/// </summary>
internal sealed partial class ForwardingEndpoint
{
    // Far beyond any stream: timeouts are enforced here (time to headers) and by the relay (idle).
    private static readonly ForwarderRequestConfig s_requestConfig = new() { ActivityTimeout = TimeSpan.FromDays(1) };

    private readonly CallerAuthentication _authentication;
    private readonly IChannelStore _channels;
    private readonly IProxyStateLookup _proxyState;
    private readonly IHttpForwarder _forwarder;
    private readonly GatewayOptions _options;
    private readonly RequestLimiter _limiter;
    private readonly IUsageStore _usage;
    private readonly Lifecycle.DrainState _drain;
    private readonly TimeProvider _time;
    private readonly UpstreamHealth _health;
    private readonly GatewayTelemetry _telemetry;
    private readonly RequestTelemetry _requestTelemetry;
    private readonly RoutingOptions _routing;
    private readonly ResponseCache _cache;
    private readonly ILogger<ForwardingEndpoint> _logger;

    /// <summary>Lets a caller pick one of its group's channels by name (for ops and debugging).</summary>
    public const string ForcedChannelHeader = "X-Channel";

    /// <summary>Claude Code's conversation id, the first choice for session affinity.</summary>
    public const string SessionHeader = "X-Claude-Code-Session-Id";

    public ForwardingEndpoint(CallerAuthentication authentication, IChannelStore channels, IProxyStateLookup proxyState,
        IHttpForwarder forwarder, IOptions<GatewayOptions> options, RequestLimiter limiter, IUsageStore usage, TimeProvider time,
        Lifecycle.DrainState drain, UpstreamHealth health, IOptions<RoutingOptions> routing, GatewayTelemetry telemetry, RequestTelemetry requestTelemetry,
        ResponseCache cache, ILogger<ForwardingEndpoint> logger)
    {
        _cache = cache;
        _telemetry = telemetry;
        _requestTelemetry = requestTelemetry;
        _health = health;
        _routing = routing.Value;
        _drain = drain;
        _limiter = limiter;
        _usage = usage;
        _time = time;
        _authentication = authentication;
        _channels = channels;
        _proxyState = proxyState;
        _forwarder = forwarder;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Handles <c>POST /v1/messages</c>.</summary>
    public Task HandleMessagesAsync(HttpContext context) => HandleAsync(context, InboundApi.Messages);

    /// <summary>Handles <c>POST /v1/messages/count_tokens</c>.</summary>
    public Task HandleCountTokensAsync(HttpContext context) => HandleAsync(context, InboundApi.CountTokens);

    /// <summary>Handles <c>POST /v1/chat/completions</c>.</summary>
    public Task HandleChatCompletionsAsync(HttpContext context) => HandleAsync(context, InboundApi.ChatCompletions);

    /// <summary>Handles <c>POST /v1/completions</c>.</summary>
    public Task HandleCompletionsAsync(HttpContext context) => HandleAsync(context, InboundApi.Completions);

    private async Task HandleAsync(HttpContext context, InboundApi api)
    {
        var record = RequestRecord.Start(context);
        record.Api = api switch
        {
            InboundApi.Messages => "messages",
            InboundApi.CountTokens => "count_tokens",
            InboundApi.ChatCompletions => "chat.completions",
            _ => "completions",
        };
        try
        {
            await HandleAsync(context, api, record).ConfigureAwait(false);
        }
        finally
        {
            _requestTelemetry.End(context, record);
        }
    }

    private async Task HandleAsync(HttpContext context, InboundApi api, RequestRecord record)
    {
        var caller = await _authentication.AuthenticateAsync(context).ConfigureAwait(false);
        if (caller is null)
        {
            return;
        }

        record.Group = caller.Group;
        record.KeyId = caller.KeyId;

        ReadOnlyMemory<byte>? body;
        try
        {
            body = await RequestBody.ReadAsync(context.Request, _options.MaxRequestBodyBytes, context.RequestAborted).ConfigureAwait(false);
        }
        catch (MalformedBodyException ex)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, $"the request body could not be read: {ex.Message}").ConfigureAwait(false);
            return;
        }

        if (body is not { } json)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status413PayloadTooLarge,
                $"request body is larger than the gateway's limit of {_options.MaxRequestBodyBytes} bytes").ConfigureAwait(false);
            return;
        }

        var scan = RequestJson.Scan(json.Span);
        if (scan.Model is not { } model)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, scan.Error!).ConfigureAwait(false);
            return;
        }

        // What converters and the affinity hash read: lone surrogates (strings Node clients cut mid-emoji)
        // replaced. Passthrough forwards the body as sent.
        var text = LoneSurrogates.Replace(json);
        var snapshot = _channels.Current;
        var group = snapshot.FindGroup(caller.Group);
        if (group is not null && !group.AllowsModel(model))
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden,
                $"this key's group '{caller.Group}' may not use model '{model}'", "model_not_allowed").ConfigureAwait(false);
            return;
        }

        var route = await PlanAsync(context, snapshot, caller, model, text).ConfigureAwait(false);
        if (route is null)
        {
            return;
        }

        // The caller chose this name: escaped before it reaches a log line, a span or a metric.
        record.Model = Logging.LogText.Escape(model);
        record.Stream = scan.Stream;

        var channel = route.Candidates[0];
        if (api == InboundApi.CountTokens && channel.Type == WireProtocol.OpenAI)
        {
            await AnswerTokenEstimateAsync(context, text).ConfigureAwait(false);
            return;
        }

        // count_tokens is not a model call: it is not counted against rate limits or quotas, and it is
        // answered by one attempt only.
        var scopes = api == InboundApi.CountTokens ? [] : RequestLimiter.ScopesFor(caller, group);
        RequestLimiter.Lease? lease = null;
        if (scopes.Count > 0)
        {
            lease = await _limiter.AcquireAsync(context, scopes, EstimateInputTokens(api, text)).ConfigureAwait(false);
            if (lease is null)
            {
                _telemetry.RateLimited(record, context.Response.StatusCode);
                return;
            }
        }

        var settings = new CallSettings(RequestIds.Get(context), _options.MaxResponseBodyBytes, TimeSpan.FromSeconds(_options.StreamKeepAliveSeconds), _drain.DrainDeadline)
        {
            Key = channel.ApiKeys[0],
            Time = _time,
        };

        // count_tokens is not a model answer: never cached.
        var cache = api == InboundApi.CountTokens ? null : ResponseCache.PolicyFor(context.Request, group);
        string? cacheKey = null;
        var cachedAnswer = false;
        (ChannelConfig Channel, StreamUsage? Usage, UpstreamCall Call)? served = null;
        using var stream = scan.Stream ? _telemetry.StreamStarted() : default;
        try
        {
            if (cache is not null)
            {
                record.Cache = cache.Read ? "miss" : "bypass";
                context.Response.Headers[ResponseCache.Header] = record.Cache;
                if (cache.Read)
                {
                    (cachedAnswer, cacheKey) = await AnswerFromCacheAsync(context, api, json, text, scan, channel, settings, caller, record, cache.Config).ConfigureAwait(false);
                }
            }

            if (cachedAnswer)
            {
                // No upstream tokens: the reservation is returned; the request itself still counted against the limits.
                lease?.Usage = new StreamUsage();
            }
            else
            {
                served = await AttemptAsync(context, api, json, text, scan, route, api == InboundApi.CountTokens ? 1 : _options.MaxAttempts, record,
                    settings, cache is { Write: true } ? cache.Config.MaxEntryBytes : null).ConfigureAwait(false);
                record.Usage = served?.Usage;
                if (lease is not null && served is { } result)
                {
                    lease.Usage = result.Usage;
                }
            }

            // End the response now (for a stream, its final chunk): the bookkeeping below is not the client's wait.
            if (!context.RequestAborted.IsCancellationRequested)
            {
                try
                {
                    await context.Response.CompleteAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
                {
                    // The client left as the answer ended; the bookkeeping still happens.
                }
            }
        }
        finally
        {
            if (lease is not null)
            {
                await lease.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (cachedAnswer)
        {
            await RecordUsageAsync(new UsageEntry(caller.KeyId, caller.Group, null, model, new UsageTotals { Requests = 1, CachedRequests = 1 })).ConfigureAwait(false);
            return;
        }

        if (served is { Usage: { } usage } answer && api != InboundApi.CountTokens)
        {
            await RecordUsageAsync(caller, answer.Channel, model, usage).ConfigureAwait(false);
        }

        if (cache is { Write: true } && served is { Call.Capture.Answer: { } stored } storedBy)
        {
            // The key of what was sent to the channel that answered (the lookup's, when that was the first candidate).
            var key = cacheKey is not null && storedBy.Channel == channel ? cacheKey : ResponseCache.Key(caller.Group, storedBy.Call, context.Request);
            await _cache.StoreAsync(key, stored with { Body = SecretScrubber.Scrub(stored.Body, SecretScrubber.SecretsOf(storedBy.Call)) }, cache.Config).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Looks the request up in the response cache under the key of what the first candidate would be sent, and on a
    /// hit answers with the stored answer in the caller's protocol (a stream when the answer was one). Returns whether
    /// it answered, and the key it looked under (null when the request cannot be built for that channel: the attempt
    /// then reports why).
    /// </summary>
    private async Task<(bool Answered, string? Key)> AnswerFromCacheAsync(HttpContext context, InboundApi api, ReadOnlyMemory<byte> json, ReadOnlyMemory<byte> text,
        RequestScan scan, ChannelConfig channel, CallSettings settings, Caller caller, RequestRecord record, ResponseCacheConfig config)
    {
        var (call, _) = Routes.Build(api, channel, json, text, scan, settings);
        if (call is null)
        {
            return (false, null);
        }

        var key = ResponseCache.Key(caller.Group, call, context.Request);
        ReplayedAnswer? replay = null;
        CachedEntry? entry = null;
        try
        {
            entry = await _cache.GetAsync(key, config, context.RequestAborted).ConfigureAwait(false);
            replay = entry is null ? null : await ResponseReplay.RenderAsync(entry.Answer, call, context.RequestAborted).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // An entry is data from Redis that other replicas (and versions) wrote: whatever it does, it is a miss.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CacheEntryUnusable(_logger, ex.GetType().Name);
        }

        if (entry is null || replay is null)
        {
            // A miss (or an entry that is no answer any more): the fresh answer replaces it.
            return (false, key);
        }

        record.Cache = "hit";
        record.UpstreamModel = Logging.LogText.Escape(channel.MapModel(scan.Model!));
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.Headers[ResponseCache.Header] = "hit";
        response.Headers.Age = Math.Max(0, (long)(_time.GetUtcNow() - entry.StoredAt).TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (replay.IsStream)
        {
            response.ContentType = "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache";
            record.FirstTokenTimestamp = Stopwatch.GetTimestamp();
        }
        else
        {
            response.ContentType = "application/json";
            response.ContentLength = replay.Body.Length;
        }

        try
        {
            await response.Body.WriteAsync(replay.Body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client left; it was answered from the cache all the same.
        }

        return (true, key);
    }

    /// <summary>
    /// The candidates for the caller's group and model, in the conversation's affinity order (or the one
    /// channel the caller forced with <c>X-Channel</c>); null when an error was written instead.
    /// </summary>
    private async Task<RoutePlan?> PlanAsync(HttpContext context, ChannelSnapshot snapshot, Caller caller, string model, ReadOnlyMemory<byte> json)
    {
        var group = caller.Group;
        _health.Retain(snapshot);
        if (context.Request.Headers[ForcedChannelHeader] is { Count: > 0 } forcedHeader && forcedHeader.ToString().Trim() is { Length: > 0 } forced)
        {
            var chosen = snapshot.Find(forced);
            if (chosen is null || !chosen.Enabled)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                    $"{ForcedChannelHeader}: there is no enabled channel named '{forced}'", "channel_not_found").ConfigureAwait(false);
                return null;
            }

            if (!chosen.Groups.Contains(group, StringComparer.Ordinal))
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden,
                    $"{ForcedChannelHeader}: this key's group '{group}' may not use channel '{chosen.Name}'", "channel_not_allowed").ConfigureAwait(false);
                return null;
            }

            if (!chosen.ServesModel(model))
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                    $"{ForcedChannelHeader}: channel '{chosen.Name}' does not serve model '{model}'", "model_not_found").ConfigureAwait(false);
                return null;
            }

            if (await RefusedMappingAsync(context, [chosen], model, snapshot.FindGroup(group)?.Models).ConfigureAwait(false))
            {
                return null;
            }

            return new RoutePlan(_health, [chosen], Affinity(context, json), forced: true, caller: BreakerCaller(context, caller));
        }

        var affinity = Affinity(context, json);
        var candidates = affinity is { } key ? snapshot.Candidates(group, model, key) : snapshot.Candidates(group, model, Random.Shared);
        if (candidates.Count == 0)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                $"model '{model}' is not served by any channel available to this key", "model_not_found").ConfigureAwait(false);
            return null;
        }

        if (await RefusedMappingAsync(context, candidates, model, snapshot.FindGroup(group)?.Models).ConfigureAwait(false))
        {
            return null;
        }

        return new RoutePlan(_health, candidates, affinity, caller: BreakerCaller(context, caller));
    }

    /// <summary>
    /// Refuses (and answers) a name some candidate would map ambiguously (400) or to a model the group's allowlist
    /// does not name (403). Refused outright rather than routed elsewhere: such a name is a mistake or an attempt to
    /// reach a model through a name the allowlist admits.
    /// </summary>
    /// <returns>True when the refusal was written.</returns>
    private static async Task<bool> RefusedMappingAsync(HttpContext context, IReadOnlyList<ChannelConfig> candidates, string model, IReadOnlyList<string>? allowlist)
    {
        foreach (var candidate in candidates)
        {
            if (candidate.AmbiguousMapping(model) is { } ambiguous)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, ambiguous, "model_ambiguous").ConfigureAwait(false);
                return true;
            }

            if (allowlist is not null && candidate.MappingOutsideAllowlist(model, allowlist) is { } outside)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden, outside, "model_not_allowed").ConfigureAwait(false);
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Who a failure is counted against in the shared breakers: the key and the client's address (the real one
    /// behind a trusted ingress), so the users of one shared key still count as different callers. An IPv6
    /// address counts by its /64, which one host can fill with addresses of its own.
    /// </summary>
    private static string BreakerCaller(HttpContext context, Caller caller)
    {
        var address = context.Connection.RemoteIpAddress;
        if (address is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6, IsIPv4MappedToIPv6: false })
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            bytes[8..].Clear();
            address = new System.Net.IPAddress(bytes);
        }

        return caller.KeyId + "@" + address;
    }

    private ulong? Affinity(HttpContext context, ReadOnlyMemory<byte> json) =>
        _routing.SessionAffinity ? SessionAffinity.Key(context.Request.Headers[SessionHeader].ToString(), json.Span) : null;

    /// <summary>
    /// Runs the plan's attempts. An attempt that failed before anything reached the client (connection
    /// refused or reset, no headers in time, the channel's key refused, 429, 500, 502, 503, 529, an empty or
    /// unreadable answer, a stream failing before its first content) hands over to the next target while the
    /// budget (attempts and deadline) lasts; the last one answers whatever happens. Never on the client's own
    /// mistakes. Every attempt's outcome feeds the breakers. When the answer may be cached, each attempt records its
    /// answer up to <c>captureBytes</c> (null: nothing recorded), and the one that answered is returned with it.
    /// </summary>
    private async Task<(ChannelConfig Channel, StreamUsage? Usage, UpstreamCall Call)?> AttemptAsync(HttpContext context, InboundApi api, ReadOnlyMemory<byte> json,
        ReadOnlyMemory<byte> text, RequestScan scan, RoutePlan plan, int maxAttempts, RequestRecord record, CallSettings settings, int? captureBytes)
    {
        if (!plan.TryNext(out var target))
        {
            await WriteUnavailableAsync(context, plan.Unavailable()!).ConfigureAwait(false);
            return null;
        }

        var deadline = _time.GetTimestamp() + (long)(_options.RetryDeadlineSeconds * _time.TimestampFrequency);
        // What the gateway itself put on the response (x-request-id, rate-limit headers): a failed attempt's
        // clean-up clears the response, and the next attempt's answer must carry them again.
        var ownHeaders = context.Response.Headers.ToArray();
        while (true)
        {
            if (api == InboundApi.CountTokens && target.Channel.Type == WireProtocol.OpenAI)
            {
                // The Anthropic channel first in line is out (breaker open): the next one cannot count either.
                plan.Report(target, AttemptReport.Abandoned);
                await AnswerTokenEstimateAsync(context, text).ConfigureAwait(false);
                return null;
            }

            var mayFailOver = plan.Attempts < maxAttempts && _time.GetTimestamp() < deadline && plan.HasAlternative();
            var (call, error) = Routes.Build(api, target.Channel, json, text, scan, settings with
            {
                MayFailOver = mayFailOver,
                Key = target.Key,
                Capture = captureBytes is { } bytes ? new ResponseCapture(bytes) : null,
            });
            if (call is null)
            {
                plan.Report(target, AttemptReport.Abandoned);
                await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
                return null;
            }

            record.Attempts = target.Attempt;
            record.Channel = target.Channel.Name;
            record.UpstreamModel = Logging.LogText.Escape(target.Channel.MapModel(scan.Model!));
            var (usage, retry, report) = await ForwardAsync(context, target, call, scan.Stream, record).ConfigureAwait(false);
            plan.Report(target, report);
            _telemetry.Attempt(target.Channel.Name, report.Failure);
            record.ErrorType = report.Failure?.Name();
            if (retry is null)
            {
                return (target.Channel, usage, call);
            }

            foreach (var (name, value) in ownHeaders)
            {
                context.Response.Headers[name] = value;
            }

            var failed = target;
            if (!plan.TryNext(out target))
            {
                // The failure itself closed the last way out (its breaker opened): say what happened.
                await WriteFailureAsync(context, failed.Channel, report, retry).ConfigureAwait(false);
                return null;
            }

            Log.FailedOver(_logger, failed.Channel.Name, failed.Key.Fingerprint, retry, target.Channel.Name, target.Key.Fingerprint);
        }
    }

    /// <summary>Every candidate is cooling down or has its breaker open: answer at once, saying when to come back.</summary>
    private Task WriteUnavailableAsync(HttpContext context, RouteUnavailable unavailable)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling((unavailable.RetryAt - _time.GetUtcNow()).TotalSeconds));
        void RetryAfter(IHeaderDictionary headers) => headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return unavailable.Reason switch
        {
            FailureKind.RateLimited => GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests,
                $"every channel for this model is rate limited by its upstream; retry in {seconds} s", "rate_limit_exceeded", RetryAfter),
            FailureKind.KeyRejected => GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                GatewayMessages.KeysRefused(unavailable.Channel), null,
                headers => headers["x-should-retry"] = "false"),
            _ => GatewayErrors.WriteAsync(context, Overloaded(context),
                $"every channel for this model is failing and is paused (circuit open); retry in {seconds} s", "upstream_unavailable", RetryAfter),
        };
    }

    /// <summary>The attempt failed with nothing written and nothing left to try: the error its class calls for.</summary>
    private Task WriteFailureAsync(HttpContext context, ChannelConfig channel, AttemptReport report, string reason)
    {
        var retryAfter = report.RetryAfter is { } wait && wait > TimeSpan.Zero
            ? (Action<IHeaderDictionary>)(headers => headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture))
            : null;
        return report.Failure switch
        {
            FailureKind.RateLimited => GatewayErrors.WriteAsync(context, StatusCodes.Status429TooManyRequests,
                $"the upstream of channel '{channel.Name}' is rate limiting the gateway", "rate_limit_exceeded", retryAfter),
            FailureKind.Overloaded => GatewayErrors.WriteAsync(context, Overloaded(context),
                $"the upstream of channel '{channel.Name}' is overloaded", "upstream_overloaded", retryAfter),
            FailureKind.KeyRejected => GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                GatewayMessages.KeysRefused(channel.Name), null, headers => headers["x-should-retry"] = "false"),
            FailureKind.HeadersTimeout or FailureKind.FirstContentTimeout => GatewayErrors.WriteAsync(context, StatusCodes.Status504GatewayTimeout,
                $"the upstream of channel '{channel.Name}' did not answer in time ({reason})"),
            _ => GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                $"the upstream of channel '{channel.Name}' failed ({reason})"),
        };
    }

    /// <summary>Anthropic's "overloaded" status is 529; OpenAI clients know 503.</summary>
    private static int Overloaded(HttpContext context) =>
        ClientProtocols.Of(context.Request) == WireProtocol.OpenAI ? StatusCodes.Status503ServiceUnavailable : 529;

    /// <summary>Accounts the answer's tokens; a failure to account never fails the (already answered) request.</summary>
    private Task RecordUsageAsync(Caller caller, ChannelConfig channel, string model, StreamUsage usage) =>
        RecordUsageAsync(new UsageEntry(caller.KeyId, caller.Group, channel.Name, model, new UsageTotals
        {
            Requests = 1,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CacheReadTokens = usage.CacheReadInputTokens,
            CacheWriteTokens = usage.CacheCreationInputTokens,
        }));

    private async Task RecordUsageAsync(UsageEntry entry)
    {
        try
        {
            await _usage.RecordAsync(entry, _time.GetUtcNow(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or StackExchange.Redis.RedisException)
        {
            Log.UsageNotRecorded(_logger, ex.GetType().Name);
        }
    }

    /// <summary>What to reserve against input-token limits before the real count is known.</summary>
    private static long EstimateInputTokens(InboundApi api, ReadOnlyMemory<byte> body) =>
        api == InboundApi.Messages && MessagesToChat.TryEstimateInputTokens(body.Span, out var tokens) ? tokens : Math.Max(1, body.Length / 4);

    /// <summary>
    /// Forwards one attempt. Returns the answer's token usage when one was relayed, or, when the call may fail
    /// over and the upstream failed before anything reached the client, why (nothing was written then); and
    /// what the breakers should learn from it.
    /// </summary>
    private async Task<(StreamUsage? Usage, string? RetryReason, AttemptReport Report)> ForwardAsync(HttpContext context, UpstreamTarget target, UpstreamCall call, bool stream,
        RequestRecord record)
    {
        var channel = target.Channel;
        using var activity = GatewayTelemetry.Source.StartActivity("upstream attempt", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("ccx.channel", channel.Name);
            activity.SetTag("ccx.attempt", target.Attempt);
            activity.SetTag("ccx.key_fingerprint", target.Key.Fingerprint);
            activity.SetTag("ccx.probe", target.IsProbe);
            activity.SetTag("server.address", target.BaseUrl.Host);
            activity.SetTag("gen_ai.request.model", record.UpstreamModel);
        }

        var result = await ForwardAsync(context, target, call, stream).ConfigureAwait(false);
        if (result.Report.Failure is { } failure)
        {
            activity?.SetTag("error.type", failure.Name());
            activity?.SetStatus(ActivityStatusCode.Error, failure.Name());
        }

        activity?.SetTag("ccx.failed_over", result.RetryReason is not null);
        return result;
    }

    private async Task<(StreamUsage? Usage, string? RetryReason, AttemptReport Report)> ForwardAsync(HttpContext context, UpstreamTarget target, UpstreamCall call, bool stream)
    {
        var channel = target.Channel;
        if (!_proxyState.TryGetCluster(channel.Name, out var cluster) || cluster.Model.HttpClient is not { } httpClient)
        {
            // The channel was removed between choosing it and sending: nothing to learn about its health.
            if (call.MayFailOver)
            {
                return (null, "the channel was just removed", AttemptReport.Abandoned);
            }

            await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                $"channel '{channel.Name}' was removed while the request was routed to it").ConfigureAwait(false);
            return (null, null, AttemptReport.Abandoned);
        }

        // A stream's first content cannot come before its headers: its first-content timeout bounds them too.
        var headersTimeout = stream && channel.Timeouts.FirstContent < channel.Timeouts.ResponseHeaders ? channel.Timeouts.FirstContent : channel.Timeouts.ResponseHeaders;

        // Not linked to the drain deadline: the relay ends streams at the deadline with an error event itself.
        using var attemptCancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        attemptCancellation.CancelAfter(headersTimeout);
        var attempt = new UpstreamAttempt(call.Time, () => attemptCancellation.CancelAfter(Timeout.InfiniteTimeSpan));
        var transformer = new GatewayTransformer(call, attempt);

        var error = await _forwarder.SendAsync(context, target.BaseUrl.AbsoluteUri.TrimEnd('/'), httpClient,
            s_requestConfig, transformer, attemptCancellation.Token).ConfigureAwait(false);
        if (attempt.FirstContentTimestamp is { } firstContent && RequestRecord.Of(context) is { } record)
        {
            record.FirstTokenTimestamp = firstContent;
        }

        var timedOut = attempt.UpstreamStatus is null && attemptCancellation.IsCancellationRequested && !context.RequestAborted.IsCancellationRequested;
        if (attempt.UpstreamStatus is null && error != ForwarderError.None && !context.RequestAborted.IsCancellationRequested)
        {
            attempt.Failure = timedOut ? FailureKind.HeadersTimeout : FailureKind.Unreachable;
        }

        if (call.Capture is { } capture)
        {
            // Only a whole, successful answer is worth keeping: never an error, a cut or failed stream, a retried attempt.
            capture.Completed = attempt is { Outcome: AttemptOutcome.Completed, Failure: FailureKind.None, UpstreamStatus: StatusCodes.Status200OK };
        }

        var report = Report(attempt, context.RequestAborted.IsCancellationRequested);
        if (attempt.Outcome == AttemptOutcome.Retryable)
        {
            return (null, attempt.RetryReason, report);
        }

        if (error == ForwarderError.None || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return (attempt.Usage, null, report);
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (call.MayFailOver)
        {
            // Nothing reached the client: undo what the forwarder set on the response and let the next target answer.
            context.Response.Clear();
            context.Features.Set<IForwarderErrorFeature>(null);
            if (!timedOut)
            {
                Log.UpstreamFailed(_logger, channel.Name, error, Detail(exception));
            }

            return (null, timedOut ? "no response headers in time" : Describe(error, exception), report);
        }

        if (timedOut)
        {
            Log.UpstreamTimedOut(_logger, channel.Name, headersTimeout.TotalSeconds);
            await GatewayErrors.WriteAsync(context, StatusCodes.Status504GatewayTimeout,
                $"the upstream of channel '{channel.Name}' did not answer within {headersTimeout.TotalSeconds:0} s").ConfigureAwait(false);
            return (null, null, report);
        }

        Log.UpstreamFailed(_logger, channel.Name, error, Detail(exception));
        await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
            $"could not reach the upstream of channel '{channel.Name}' ({Describe(error, exception)})").ConfigureAwait(false);
        return (null, null, report);
    }

    /// <summary>What the breakers learn from an attempt; upstream hints are capped by the breaker settings.</summary>
    private AttemptReport Report(UpstreamAttempt attempt, bool clientLeft)
    {
        if (attempt.Failure == FailureKind.None)
        {
            return clientLeft && attempt.UpstreamStatus is null ? AttemptReport.Abandoned : AttemptReport.Success;
        }

        var retryAfter = attempt.RetryAfter is { } wait && wait > _health.Options.MaxCooldown ? _health.Options.MaxCooldown : attempt.RetryAfter;
        return AttemptReport.Failed(attempt.Failure, retryAfter);
    }

    /// <summary>OpenAI-protocol upstreams cannot count tokens: the gateway's documented estimate answers instead.</summary>
    private static async Task AnswerTokenEstimateAsync(HttpContext context, ReadOnlyMemory<byte> text)
    {
        if (!MessagesToChat.TryEstimateInputTokens(text.Span, out var tokens))
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, "messages: must be an array of messages").ConfigureAwait(false);
            return;
        }

        await WriteTokenEstimateAsync(context, tokens).ConfigureAwait(false);
    }

    private static Task WriteTokenEstimateAsync(HttpContext context, long tokens)
    {
        var body = Encoding.UTF8.GetBytes($$"""{"input_tokens":{{tokens}}}""");
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        // Said in a header too, so a client that cares can tell an estimate from a count.
        context.Response.Headers["x-ccx-token-count"] = "estimate";
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static string Describe(ForwarderError error, Exception? exception) => error switch
    {
        _ when Find<System.Security.Authentication.AuthenticationException>(exception) is not null =>
            "the TLS handshake failed: the upstream's certificate was refused",
        ForwarderError.Request => "connection failed or was reset",
        ForwarderError.RequestTimedOut => "timed out",
        ForwarderError.ResponseHeaders => "bad response headers",
        _ => error.ToString(),
    };

    /// <summary>For the log: the exception's type, and for a TLS failure why the certificate was refused (names no secret).</summary>
    private static string Detail(Exception? exception) =>
        Find<System.Security.Authentication.AuthenticationException>(exception) is { } tls
            ? $"TLS handshake failed: {tls.Message}"
            : exception?.GetType().Name ?? "none";

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is T found)
            {
                return found;
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(4, LogLevel.Warning, "Channel {Channel} (key {Key}) failed before answering ({Reason}); trying channel {Next} (key {NextKey})")]
        public static partial void FailedOver(ILogger logger, string channel, string key, string reason, string next, string nextKey);

        [LoggerMessage(5, LogLevel.Warning, "A response cache entry could not be replayed ({ExceptionType}); the request is forwarded")]
        public static partial void CacheEntryUnusable(ILogger logger, string exceptionType);

        [LoggerMessage(3, LogLevel.Warning, "Usage of a request could not be recorded ({ExceptionType})")]
        public static partial void UsageNotRecorded(ILogger logger, string exceptionType);

        [LoggerMessage(1, LogLevel.Warning, "Upstream of channel {Channel} did not send response headers within {Seconds} s")]
        public static partial void UpstreamTimedOut(ILogger logger, string channel, double seconds);

        [LoggerMessage(2, LogLevel.Warning, "Upstream of channel {Channel} failed: {Error} ({Detail})")]
        public static partial void UpstreamFailed(ILogger logger, string channel, ForwarderError error, string detail);
    }
}
