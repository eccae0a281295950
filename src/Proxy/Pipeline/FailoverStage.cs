using CcxProxy.Channels;
using CcxProxy.Channels.Health;
using CcxProxy.Channels.Routing;
using CcxProxy.Errors;
using CcxProxy.Hosting;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 7, the last: runs the route plan's attempts (<see cref="AttemptStage"/>). An attempt that failed before
/// anything reached the client (connection refused or reset, no headers in time, the channel's key refused, 429,
/// 500, 502, 503, 529, an empty or unreadable answer, a stream failing before its first content; see
/// <see cref="FailoverPolicy"/>) hands over to the next target while the budget (attempts and deadline) lasts; the
/// last one answers whatever happens. Never on the client's own mistakes. Every attempt's outcome feeds the breakers.
/// </summary>
internal sealed partial class FailoverStage(IOptions<GatewayOptions> options, UpstreamCalls calls, AttemptStage attempts, UpstreamHealth health,
    GatewayTelemetry telemetry, TimeProvider time, ILogger<FailoverStage> logger) : IRequestStage
{
    private readonly GatewayOptions _options = options.Value;

    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var plan = request.Route;
        if (!plan.TryNext(out var target))
        {
            return Unavailable(request, plan.Unavailable()!);
        }

        var maxAttempts = request.IsCountTokens ? 1 : _options.MaxAttempts;
        var captureBytes = request.Cache is { Write: true } cache ? cache.Config.MaxEntryBytes : (int?)null;
        var deadline = time.GetTimestamp() + (long)(_options.RetryDeadline.TotalSeconds * time.TimestampFrequency);
        var record = request.Record;
        while (true)
        {
            if (request.IsCountTokens && !TokenEstimate.UpstreamCounts(request.Api, target.Channel.Type))
            {
                // The channel first in line that could count is out (breaker open): the next one cannot count either.
                plan.Report(target, AttemptReport.Abandoned);
                record.ErrorType = null;
                return await TokenEstimate.AnswerAsync(request).ConfigureAwait(false);
            }

            var mayFailOver = plan.Attempts < maxAttempts && time.GetTimestamp() < deadline && plan.HasAlternative();
            var capture = captureBytes is { } bytes ? new ResponseCapture(bytes) : null;
            if (calls.Build(request, target.Channel, target.Key, mayFailOver, capture).Failed(out var refused, out var call))
            {
                plan.Report(target, AttemptReport.Abandoned);
                // The caller's request, not an earlier attempt's upstream, is what failed now.
                record.ErrorType = null;
                return refused;
            }

            record.Attempts = target.Attempt;
            record.Channel = target.Channel.Name;
            record.UpstreamModel = Logging.LogText.Escape(target.Channel.MapModel(request.Model));
            var result = await attempts.RunAsync(request, target, call).ConfigureAwait(false);
            var report = Report(result);
            plan.Report(target, report);
            telemetry.Attempt(target.Channel.Name, report.Failure);
            record.ErrorType = report.Failure?.Name();
            if (result.Outcome != AttemptOutcome.Retryable)
            {
                request.Served = new ServedAttempt(target.Channel, call, result);
                record.Usage = result.Usage;
                return result.Error;
            }

            // Nothing reached the client: the next candidate answers on a clean response.
            GatewayHeaders.Reset(request.Http);
            var failed = target;
            if (!plan.TryNext(out target))
            {
                // The failure itself closed the last way out (its breaker opened, or it left out the only key or
                // destination there was): say what happened, not that everything is paused.
                return Failure(request, failed.Channel, report, result.RetryReason!);
            }

            Log.FailedOver(logger, failed.Channel.Name, failed.Key.Fingerprint, result.RetryReason!, target.Channel.Name, target.Key.Fingerprint);
        }
    }

    /// <summary>What the breakers learn from an attempt; upstream hints are capped by the breaker settings.</summary>
    private AttemptReport Report(AttemptResult result)
    {
        if (result.Failure == FailureKind.None)
        {
            // No answer and no failure of the upstream's: the client left first, or the attempt was never sent.
            return result.UpstreamStatus is null ? AttemptReport.Abandoned : AttemptReport.Success;
        }

        var retryAfter = result.RetryAfter is { } wait && wait > health.Options.MaxCooldown ? health.Options.MaxCooldown : result.RetryAfter;
        return AttemptReport.Failed(result.Failure, retryAfter);
    }

    /// <summary>Every candidate is cooling down or has its breaker open: answer at once, saying when to come back.</summary>
    private GatewayError Unavailable(ForwardedRequest request, RouteUnavailable unavailable)
    {
        var wait = unavailable.RetryAt - time.GetUtcNow();
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        return unavailable.Reason switch
        {
            FailureKind.RateLimited => new GatewayError(StatusCodes.Status429TooManyRequests,
                $"every channel for this model is rate limited by its upstream; retry in {seconds} s")
            {
                Code = "rate_limit_exceeded",
                RetryAfter = TimeSpan.FromSeconds(seconds),
            },
            FailureKind.KeyRejected => new GatewayError(StatusCodes.Status502BadGateway, GatewayMessages.KeysRefused(unavailable.Channel)) { ShouldRetry = false },
            _ => new GatewayError(Overloaded(request), $"every channel for this model is failing and is paused (circuit open); retry in {seconds} s")
            {
                Code = "upstream_unavailable",
                RetryAfter = TimeSpan.FromSeconds(seconds),
            },
        };
    }

    /// <summary>The attempt failed with nothing written and nothing left to try: the error its class calls for.</summary>
    private static GatewayError Failure(ForwardedRequest request, ChannelConfig channel, AttemptReport report, string reason)
    {
        var retryAfter = report.RetryAfter is { } wait && wait > TimeSpan.Zero ? wait : (TimeSpan?)null;
        return report.Failure switch
        {
            FailureKind.RateLimited => new GatewayError(StatusCodes.Status429TooManyRequests, $"the upstream of channel '{channel.Name}' is rate limiting the gateway")
            {
                Code = "rate_limit_exceeded",
                RetryAfter = retryAfter,
            },
            FailureKind.Overloaded => new GatewayError(Overloaded(request), $"the upstream of channel '{channel.Name}' is overloaded")
            {
                Code = "upstream_overloaded",
                RetryAfter = retryAfter,
            },
            FailureKind.KeyRejected => new GatewayError(StatusCodes.Status502BadGateway, GatewayMessages.KeysRefused(channel.Name)) { ShouldRetry = false },
            FailureKind.HeadersTimeout or FailureKind.FirstContentTimeout => new GatewayError(StatusCodes.Status504GatewayTimeout,
                $"the upstream of channel '{channel.Name}' did not answer in time ({reason})"),
            _ => new GatewayError(StatusCodes.Status502BadGateway, $"the upstream of channel '{channel.Name}' failed ({reason})"),
        };
    }

    /// <summary>Anthropic's "overloaded" status is 529; OpenAI and Google clients know 503.</summary>
    private static int Overloaded(ForwardedRequest request) =>
        ClientProtocols.Of(request.Http.Request) == WireProtocol.Anthropic ? 529 : StatusCodes.Status503ServiceUnavailable;

    private static partial class Log
    {
        [LoggerMessage(4, LogLevel.Warning, "Channel {Channel} (key {Key}) failed before answering ({Reason}); trying channel {Next} (key {NextKey})")]
        public static partial void FailedOver(ILogger logger, string channel, string key, string reason, string next, string nextKey);
    }
}
