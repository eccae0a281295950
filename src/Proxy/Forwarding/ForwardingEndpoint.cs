using System.Text;
using CcxProxy.Access;
using CcxProxy.Channels;
using CcxProxy.Errors;
using CcxProxy.Hosting;
using CcxProxy.Limits;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Usage;
using CcxProxy.Transforms.Conversion.AnthropicToOpenAI;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

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
    private readonly ILogger<ForwardingEndpoint> _logger;

    public ForwardingEndpoint(CallerAuthentication authentication, IChannelStore channels, IProxyStateLookup proxyState,
        IHttpForwarder forwarder, IOptions<GatewayOptions> options, RequestLimiter limiter, IUsageStore usage, TimeProvider time,
        Lifecycle.DrainState drain, ILogger<ForwardingEndpoint> logger)
    {
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
        var caller = await _authentication.AuthenticateAsync(context).ConfigureAwait(false);
        if (caller is null)
        {
            return;
        }

        var body = await RequestBody.ReadAsync(context.Request, _options.MaxRequestBodyBytes, context.RequestAborted).ConfigureAwait(false);
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

        var snapshot = _channels.Current;
        if (snapshot.FindGroup(caller.Group) is { } group && !group.AllowsModel(model))
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status403Forbidden,
                $"this key's group '{caller.Group}' may not use model '{model}'", "model_not_allowed").ConfigureAwait(false);
            return;
        }

        var candidates = snapshot.Candidates(caller.Group, model, Random.Shared);
        var channel = candidates.Count > 0 ? candidates[0] : null;
        if (channel is null)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status404NotFound,
                $"model '{model}' is not served by any channel available to this key", "model_not_found").ConfigureAwait(false);
            return;
        }

        if (api == InboundApi.CountTokens && channel.Type == ChannelType.OpenAI)
        {
            // OpenAI-protocol upstreams cannot count tokens: answer with the gateway's documented estimate.
            if (!MessagesToChat.TryEstimateInputTokens(json.Span, out var tokens))
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest,
                    "messages: must be an array of messages").ConfigureAwait(false);
                return;
            }

            await WriteTokenEstimateAsync(context, tokens).ConfigureAwait(false);
            return;
        }

        // count_tokens is not a model call: it is not counted against rate limits or quotas, and it is
        // answered by the first candidate only.
        var scopes = api == InboundApi.CountTokens ? [] : RequestLimiter.ScopesFor(caller, snapshot.FindGroup(caller.Group));
        var attempts = api == InboundApi.CountTokens ? [channel] : candidates.Take(Math.Max(1, _options.MaxAttempts)).ToList();
        RequestLimiter.Lease? lease = null;
        if (scopes.Count > 0)
        {
            lease = await _limiter.AcquireAsync(context, scopes, EstimateInputTokens(api, json)).ConfigureAwait(false);
            if (lease is null)
            {
                return;
            }
        }

        (ChannelConfig Channel, StreamUsage? Usage)? served;
        try
        {
            served = await AttemptAsync(context, api, json, scan, attempts).ConfigureAwait(false);
            if (lease is not null && served is { } result)
            {
                lease.Usage = result.Usage;
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

        if (served is { Usage: { } usage } answer && api != InboundApi.CountTokens)
        {
            await RecordUsageAsync(caller, answer.Channel, model, usage).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Tries the candidates in order. An attempt that failed before anything reached the client (connection
    /// refused or reset, no headers in time, 429, 500, 502, 503, 529, an empty or unreadable answer) hands
    /// over to the next candidate; the last one answers whatever happens. Never on the client's own mistakes.
    /// </summary>
    private async Task<(ChannelConfig Channel, StreamUsage? Usage)?> AttemptAsync(HttpContext context, InboundApi api, ReadOnlyMemory<byte> json,
        RequestScan scan, IReadOnlyList<ChannelConfig> attempts)
    {
        var settings = new CallSettings(RequestIds.Get(context), _options.MaxResponseBodyBytes, TimeSpan.FromSeconds(_options.StreamKeepAliveSeconds), _drain.DrainDeadline);
        for (var i = 0; i < attempts.Count; i++)
        {
            var channel = attempts[i];
            var (call, error) = Routes.Build(api, channel, json, scan, settings with { MayFailOver = i < attempts.Count - 1 });
            if (call is null)
            {
                await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
                return null;
            }

            var (usage, retry) = await ForwardAsync(context, channel, call).ConfigureAwait(false);
            if (retry is null)
            {
                return (channel, usage);
            }

            Log.FailedOver(_logger, channel.Name, retry, attempts[i + 1].Name);
        }

        return null;
    }

    /// <summary>Accounts the answer's tokens; a failure to account never fails the (already answered) request.</summary>
    private async Task RecordUsageAsync(Caller caller, ChannelConfig channel, string model, StreamUsage usage)
    {
        var entry = new UsageEntry(caller.KeyId, caller.Group, channel.Name, model, new UsageTotals
        {
            Requests = 1,
            InputTokens = usage.InputTokens,
            OutputTokens = usage.OutputTokens,
            CacheReadTokens = usage.CacheReadInputTokens,
            CacheWriteTokens = usage.CacheCreationInputTokens,
        });
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
    /// over and the upstream failed before anything reached the client, why (nothing was written then).
    /// </summary>
    private async Task<(StreamUsage? Usage, string? RetryReason)> ForwardAsync(HttpContext context, ChannelConfig channel, UpstreamCall call)
    {
        if (!_proxyState.TryGetCluster(channel.Name, out var cluster) || PickDestination(cluster) is not { } destination)
        {
            if (call.MayFailOver)
            {
                return (null, "no usable destination");
            }

            await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                $"channel '{channel.Name}' has no usable destination").ConfigureAwait(false);
            return (null, null);
        }

        // Not linked to the drain deadline: the relay ends streams at the deadline with an error event itself.
        using var attemptCancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        attemptCancellation.CancelAfter(channel.Timeouts.ResponseHeaders);
        var attempt = new UpstreamAttempt(() => attemptCancellation.CancelAfter(Timeout.InfiniteTimeSpan));
        var transformer = new GatewayTransformer(call, attempt);

        var error = await _forwarder.SendAsync(context, destination.Model.Config.Address, cluster.Model.HttpClient,
            s_requestConfig, transformer, attemptCancellation.Token).ConfigureAwait(false);

        if (attempt.Outcome == AttemptOutcome.Retryable)
        {
            return (null, attempt.RetryReason);
        }

        if (error == ForwarderError.None || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return (attempt.Usage, null);
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        var timedOut = attempt.UpstreamStatus is null && attemptCancellation.IsCancellationRequested;
        if (call.MayFailOver)
        {
            // Nothing reached the client: undo what the forwarder set on the response and let the next candidate answer.
            context.Response.Clear();
            context.Features.Set<IForwarderErrorFeature>(null);
            return (null, timedOut ? "no response headers in time" : Describe(error));
        }

        if (timedOut)
        {
            Log.UpstreamTimedOut(_logger, channel.Name, channel.Timeouts.ResponseHeaders.TotalSeconds);
            await GatewayErrors.WriteAsync(context, StatusCodes.Status504GatewayTimeout,
                $"the upstream of channel '{channel.Name}' did not answer within {channel.Timeouts.ResponseHeaders.TotalSeconds:0} s").ConfigureAwait(false);
            return (null, null);
        }

        Log.UpstreamFailed(_logger, channel.Name, error, exception?.GetType().Name ?? "none");
        await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
            $"could not reach the upstream of channel '{channel.Name}' ({Describe(error)})").ConfigureAwait(false);
        return (null, null);
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

    private static DestinationState? PickDestination(ClusterState cluster)
    {
        var destinations = cluster.DestinationsState.AvailableDestinations;
        if (destinations.Count == 0)
        {
            destinations = cluster.DestinationsState.AllDestinations;
        }

        return destinations.Count switch
        {
            0 => null,
            1 => destinations[0],
            _ => destinations[Random.Shared.Next(destinations.Count)],
        };
    }

    private static string Describe(ForwarderError error) => error switch
    {
        ForwarderError.Request => "connection failed or was reset",
        ForwarderError.RequestTimedOut => "timed out",
        ForwarderError.ResponseHeaders => "bad response headers",
        _ => error.ToString(),
    };

    private static partial class Log
    {
        [LoggerMessage(4, LogLevel.Warning, "Channel {Channel} failed before answering ({Reason}); trying channel {Next}")]
        public static partial void FailedOver(ILogger logger, string channel, string reason, string next);

        [LoggerMessage(3, LogLevel.Warning, "Usage of a request could not be recorded ({ExceptionType})")]
        public static partial void UsageNotRecorded(ILogger logger, string exceptionType);

        [LoggerMessage(1, LogLevel.Warning, "Upstream of channel {Channel} did not send response headers within {Seconds} s")]
        public static partial void UpstreamTimedOut(ILogger logger, string channel, double seconds);

        [LoggerMessage(2, LogLevel.Warning, "Upstream of channel {Channel} failed: {Error} ({ExceptionType})")]
        public static partial void UpstreamFailed(ILogger logger, string channel, ForwarderError error, string exceptionType);
    }
}
