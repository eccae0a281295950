using System.Diagnostics;
using CcxProxy.Channels.Routing;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Pipeline;

/// <summary>
/// One upstream attempt: the call sent through YARP to the target's channel and the answer relayed by
/// <see cref="GatewayTransformer"/>. Returns what came of it as an immutable <see cref="AttemptResult"/>, which
/// <see cref="FailoverStage"/> reads; writes no error itself.
/// </summary>
internal sealed partial class AttemptStage(IProxyStateLookup proxyState, IHttpForwarder forwarder, ILogger<AttemptStage> logger)
{
    // No activity timeout from YARP: the attempt bounds the time to headers and the relay the silences of a stream
    // (idle, first content). An infinite one also spares each request the timer that a finite one arms.
    private static readonly ForwarderRequestConfig s_requestConfig = new() { ActivityTimeout = Timeout.InfiniteTimeSpan };

    public async Task<AttemptResult> RunAsync(ForwardedRequest request, UpstreamTarget target, UpstreamCall call)
    {
        using var activity = GatewayTelemetry.Source.StartActivity("upstream attempt", ActivityKind.Internal);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("ccx.channel", target.Channel.Name);
            activity.SetTag("ccx.attempt", target.Attempt);
            activity.SetTag("ccx.key_fingerprint", target.Key.Fingerprint);
            activity.SetTag("ccx.probe", target.IsProbe);
            activity.SetTag("server.address", target.BaseUrl.Host);
            activity.SetTag("gen_ai.request.model", request.Record.UpstreamModel);
        }

        var result = await SendAsync(request, target, call).ConfigureAwait(false);
        if (result.Failure != FailureKind.None)
        {
            activity?.SetTag("error.type", result.Failure.Name());
            activity?.SetStatus(ActivityStatusCode.Error, result.Failure.Name());
        }

        activity?.SetTag("ccx.failed_over", result.Outcome == AttemptOutcome.Retryable);
        return result;
    }

    private async Task<AttemptResult> SendAsync(ForwardedRequest request, UpstreamTarget target, UpstreamCall call)
    {
        var context = request.Http;
        var channel = target.Channel;
        if (!proxyState.TryGetCluster(channel.Name, out var cluster) || cluster.Model.HttpClient is not { } httpClient)
        {
            // The channel was removed between choosing it and sending: nothing to learn about its health.
            return call.MayFailOver
                ? new AttemptResult { Outcome = AttemptOutcome.Retryable, RetryReason = "the channel was just removed" }
                : new AttemptResult
                {
                    Outcome = AttemptOutcome.NoResponse,
                    Error = new GatewayError(StatusCodes.Status502BadGateway, $"channel '{channel.Name}' was removed while the request was routed to it"),
                };
        }

        // A stream's first content cannot come before its headers: its first-content timeout bounds them too.
        var headersTimeout = request.Scan.Stream && channel.Timeouts.FirstContent < channel.Timeouts.ResponseHeaders
            ? channel.Timeouts.FirstContent
            : channel.Timeouts.ResponseHeaders;

        // Not linked to the drain deadline: the relay ends streams at the deadline with an error event itself.
        using var attempt = new UpstreamAttempt(call.Time, headersTimeout, context.RequestAborted);
        var error = await forwarder.SendAsync(context, target.BaseUrl.AbsoluteUri.TrimEnd('/'), httpClient,
            s_requestConfig, new GatewayTransformer(call, attempt), attempt.Token).ConfigureAwait(false);
        var result = attempt.Result();
        if (result.FirstContentTimestamp is { } firstContent)
        {
            request.Record.FirstTokenTimestamp = firstContent;
        }

        var clientLeft = context.RequestAborted.IsCancellationRequested;
        var timedOut = attempt.EndedBeforeHeaders && !clientLeft;
        if (result.UpstreamStatus is null && error != ForwarderError.None && !clientLeft)
        {
            result = result with { Failure = timedOut ? FailureKind.HeadersTimeout : FailureKind.Unreachable };
        }

        if (call.Capture is { } capture)
        {
            // Only a whole, successful answer is worth keeping: never an error, a cut or failed stream, a retried attempt.
            capture.Completed = result is { Outcome: AttemptOutcome.Completed, Failure: FailureKind.None, UpstreamStatus: StatusCodes.Status200OK, Error: null };
        }

        if (result.Outcome == AttemptOutcome.Retryable || error == ForwarderError.None || context.Response.HasStarted || clientLeft)
        {
            return result;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        context.Features.Set<IForwarderErrorFeature>(null);
        if (call.MayFailOver)
        {
            // Nothing reached the client: the next target answers.
            if (!timedOut)
            {
                Log.UpstreamFailed(logger, channel.Name, error, Detail(exception));
            }

            return result with { Outcome = AttemptOutcome.Retryable, RetryReason = timedOut ? "no response headers in time" : Describe(error, exception) };
        }

        if (timedOut)
        {
            Log.UpstreamTimedOut(logger, channel.Name, headersTimeout.TotalSeconds);
            return result with
            {
                Error = new GatewayError(StatusCodes.Status504GatewayTimeout, $"the upstream of channel '{channel.Name}' did not answer within {headersTimeout.TotalSeconds:0} s"),
            };
        }

        Log.UpstreamFailed(logger, channel.Name, error, Detail(exception));
        return result with
        {
            Error = new GatewayError(StatusCodes.Status502BadGateway, $"could not reach the upstream of channel '{channel.Name}' ({Describe(error, exception)})"),
        };
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
        [LoggerMessage(1, LogLevel.Warning, "Upstream of channel {Channel} did not send response headers within {Seconds} s")]
        public static partial void UpstreamTimedOut(ILogger logger, string channel, double seconds);

        [LoggerMessage(2, LogLevel.Warning, "Upstream of channel {Channel} failed: {Error} ({Detail})")]
        public static partial void UpstreamFailed(ILogger logger, string channel, ForwarderError error, string detail);
    }
}
