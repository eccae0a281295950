using System.Diagnostics;
using CcxProxy.Errors;

namespace CcxProxy.Telemetry;

/// <summary>
/// The end of every API request: one structured log line at information level, the server span's tags and
/// the request metrics, all from the <see cref="RequestRecord"/>. Only names, counts and times are read, so
/// no secret can reach a log, a trace or a metric.
/// </summary>
internal sealed partial class RequestTelemetry(GatewayTelemetry telemetry, ILogger<RequestTelemetry> logger)
{
    /// <summary>Logs, tags and measures the finished request.</summary>
    public void End(HttpContext context, RequestRecord record)
    {
        var status = context.Response.StatusCode;
        var elapsed = record.Time.GetElapsedTime(record.StartedTimestamp);
        if (status >= 400 && record.ErrorType is null)
        {
            record.ErrorType = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (context.RequestAborted.IsCancellationRequested && status < 400)
        {
            record.ErrorType ??= "client_disconnected";
        }

        var route = record.Api ?? "unknown";
        telemetry.RequestEnded(record, route, status, elapsed.TotalSeconds);
        TagServerSpan(Activity.Current, record, status, RequestIds.Get(context));
        var usage = record.Usage;
        Log.Request(logger, context.Request.Method, route, status, (long)elapsed.TotalMilliseconds, RequestIds.Get(context), record.Group, record.KeyId,
            record.Model, record.Channel, record.Attempts, usage?.InputTokens ?? 0, usage?.OutputTokens ?? 0,
            usage?.CacheReadInputTokens ?? 0, usage?.CacheCreationInputTokens ?? 0, record.ErrorType, record.Cache ?? "none");
    }

    private static void TagServerSpan(Activity? activity, RequestRecord record, int status, string? requestId)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.SetTag("ccx.request_id", requestId);
        activity.SetTag("ccx.group", record.Group);
        activity.SetTag("ccx.key_id", record.KeyId);
        activity.SetTag("gen_ai.request.model", record.Model);
        activity.SetTag("gen_ai.response.model", record.UpstreamModel);
        activity.SetTag("ccx.channel", record.Channel);
        activity.SetTag("ccx.attempts", record.Attempts);
        activity.SetTag("ccx.stream", record.Stream);
        activity.SetTag("ccx.outcome", record.ErrorType ?? "success");
        activity.SetTag("ccx.cache", record.Cache);
        if (record.Usage is { } usage)
        {
            activity.SetTag("gen_ai.usage.input_tokens", usage.InputTokens);
            activity.SetTag("gen_ai.usage.output_tokens", usage.OutputTokens);
        }

        if (record.ErrorType is { } error)
        {
            activity.SetTag("error.type", error);
            if (status >= 500)
            {
                activity.SetStatus(ActivityStatusCode.Error, error);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information,
            "{Method} {Route} {Status} in {DurationMs} ms: request {RequestId} group {Group} key {KeyId} model {Model} channel {Channel} attempts {Attempts} " +
            "tokens in {InputTokens} out {OutputTokens} cache read {CacheReadTokens} write {CacheWriteTokens} error {ErrorType} response cache {ResponseCache}")]
        public static partial void Request(ILogger logger, string method, string route, int status, long durationMs, string? requestId, string? group, string? keyId,
            string? model, string? channel, int attempts, long inputTokens, long outputTokens, long cacheReadTokens, long cacheWriteTokens, string? errorType,
            string responseCache);
    }
}
