using System.Collections.Concurrent;
using System.Diagnostics;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// Records every activity of the named sources that stops while it lives, sampled with all data. Activity
/// listeners are process-wide and fixtures run in parallel, so tests pick their own spans out of what it
/// holds (by the server span's <c>ccx.request_id</c>, then by parent span id).
/// </summary>
internal sealed class SpanRecorder : IDisposable
{
    public const string AspNetCore = "Microsoft.AspNetCore";
    public const string Gateway = "CcxProxy";
    public const string HttpClient = "System.Net.Http";

    private readonly ActivityListener _listener;
    private readonly ConcurrentQueue<Activity> _stopped = new();

    public SpanRecorder(params string[] sources)
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => sources.Contains(source.Name, StringComparer.Ordinal),
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public IReadOnlyList<Activity> Stopped => [.. _stopped];

    /// <summary>The stopped ASP.NET Core server span of the request whose <c>x-request-id</c> is <paramref name="requestId"/>.</summary>
    public Task<Activity> ServerSpanAsync(string requestId) => ServerSpanAsync("ccx.request_id", requestId);

    /// <summary>The stopped ASP.NET Core server span whose tag <paramref name="tag"/> is <paramref name="value"/>.</summary>
    public Task<Activity> ServerSpanAsync(string tag, string value) => Poll.UntilAsync(
        () => Stopped.FirstOrDefault(a => a.Source.Name == AspNetCore && a.GetTagItem(tag) as string == value),
        $"the server span with {tag}={value}");

    /// <summary>The stopped spans whose parent is <paramref name="parent"/>, in start order.</summary>
    public IReadOnlyList<Activity> ChildrenOf(Activity parent, string operationName) =>
        [.. Stopped.Where(a => a.ParentSpanId == parent.SpanId && a.TraceId == parent.TraceId && a.OperationName == operationName).OrderBy(a => a.StartTimeUtc)];

    public void Dispose() => _listener.Dispose();
}
