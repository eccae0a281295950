using System.Text;
using CcxProxy.Access;
using CcxProxy.Channels;
using CcxProxy.Errors;
using CcxProxy.Hosting;
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
    private readonly ILogger<ForwardingEndpoint> _logger;

    public ForwardingEndpoint(CallerAuthentication authentication, IChannelStore channels, IProxyStateLookup proxyState,
        IHttpForwarder forwarder, IOptions<GatewayOptions> options, ILogger<ForwardingEndpoint> logger)
    {
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

        var channel = snapshot.Candidates(caller.Group, model, Random.Shared).FirstOrDefault();
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

        var (call, error) = Routes.Build(api, channel, json, scan, new CallSettings(RequestIds.Get(context), _options.MaxResponseBodyBytes, TimeSpan.FromSeconds(_options.StreamKeepAliveSeconds)));
        if (call is null)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status400BadRequest, error!).ConfigureAwait(false);
            return;
        }

        await ForwardAsync(context, channel, call).ConfigureAwait(false);
    }

    private async Task ForwardAsync(HttpContext context, ChannelConfig channel, UpstreamCall call)
    {
        if (!_proxyState.TryGetCluster(channel.Name, out var cluster) || PickDestination(cluster) is not { } destination)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
                $"channel '{channel.Name}' has no usable destination").ConfigureAwait(false);
            return;
        }

        using var attemptCancellation = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        attemptCancellation.CancelAfter(channel.Timeouts.ResponseHeaders);
        var attempt = new UpstreamAttempt(() => attemptCancellation.CancelAfter(Timeout.InfiniteTimeSpan));
        var transformer = new GatewayTransformer(call, attempt);

        var error = await _forwarder.SendAsync(context, destination.Model.Config.Address, cluster.Model.HttpClient,
            s_requestConfig, transformer, attemptCancellation.Token).ConfigureAwait(false);

        if (error == ForwarderError.None || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            return;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        if (attempt.UpstreamStatus is null && attemptCancellation.IsCancellationRequested)
        {
            Log.UpstreamTimedOut(_logger, channel.Name, channel.Timeouts.ResponseHeaders.TotalSeconds);
            await GatewayErrors.WriteAsync(context, StatusCodes.Status504GatewayTimeout,
                $"the upstream of channel '{channel.Name}' did not answer within {channel.Timeouts.ResponseHeaders.TotalSeconds:0} s").ConfigureAwait(false);
            return;
        }

        Log.UpstreamFailed(_logger, channel.Name, error, exception?.GetType().Name ?? "none");
        await GatewayErrors.WriteAsync(context, StatusCodes.Status502BadGateway,
            $"could not reach the upstream of channel '{channel.Name}' ({Describe(error)})").ConfigureAwait(false);
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
        [LoggerMessage(1, LogLevel.Warning, "Upstream of channel {Channel} did not send response headers within {Seconds} s")]
        public static partial void UpstreamTimedOut(ILogger logger, string channel, double seconds);

        [LoggerMessage(2, LogLevel.Warning, "Upstream of channel {Channel} failed: {Error} ({ExceptionType})")]
        public static partial void UpstreamFailed(ILogger logger, string channel, ForwarderError error, string exceptionType);
    }
}
