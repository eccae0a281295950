using CcxProxy.Transforms.Conversion;

namespace CcxProxy.Telemetry;

/// <summary>
/// What one API request did, filled in as it goes (by access, routing and forwarding) and read once at the
/// end by <see cref="RequestTelemetry"/> for the request's log line, span tags and metrics.
/// Holds names, counts and times only: never a key, a header value or a body.
/// </summary>
internal sealed class RequestRecord
{
    private static readonly object s_key = new();

    private RequestRecord(TimeProvider time)
    {
        Time = time;
        StartedTimestamp = time.GetTimestamp();
    }

    /// <summary>The host's clock, which every timestamp of the record (and of the attempts) is read from.</summary>
    public TimeProvider Time { get; }

    /// <summary>When the request arrived (<see cref="TimeProvider.GetTimestamp"/> of <see cref="Time"/>).</summary>
    public long StartedTimestamp { get; }

    /// <summary>The API (<c>messages</c>, <c>count_tokens</c>, <c>chat.completions</c>, <c>completions</c>).</summary>
    public string? Api { get; set; }

    /// <summary>The caller's group, once authenticated.</summary>
    public string? Group { get; set; }

    /// <summary>The caller's key id (the start of its hash, not the key).</summary>
    public string? KeyId { get; set; }

    /// <summary>The model the client asked for, once a channel serves it.</summary>
    public string? Model { get; set; }

    /// <summary>The model name sent upstream (after the channel's mapping).</summary>
    public string? UpstreamModel { get; set; }

    /// <summary>The channel of the last attempt.</summary>
    public string? Channel { get; set; }

    /// <summary>Upstream attempts made.</summary>
    public int Attempts { get; set; }

    /// <summary>True for a streamed answer.</summary>
    public bool Stream { get; set; }

    /// <summary>Why the request failed (a stable snake_case name), when it did.</summary>
    public string? ErrorType { get; set; }

    /// <summary>For a request its group caches: <c>hit</c>, <c>miss</c> or <c>bypass</c> (what <c>x-ccx-cache</c> says); null otherwise.</summary>
    public string? Cache { get; set; }

    /// <summary>The answer's token usage, when known.</summary>
    public StreamUsage? Usage { get; set; }

    /// <summary>When the response headers went to the client (a timestamp of <see cref="Time"/>).</summary>
    public long? FirstByteTimestamp { get; set; }

    /// <summary>When the first content event reached the client (streams), as a timestamp of <see cref="Time"/>.</summary>
    public long? FirstTokenTimestamp { get; set; }

    /// <summary>The record of this request, or null outside the API routes.</summary>
    public static RequestRecord? Of(HttpContext context) => context.Items.TryGetValue(s_key, out var value) ? value as RequestRecord : null;

    /// <summary>Starts the record of this request.</summary>
    public static RequestRecord Start(HttpContext context, TimeProvider time)
    {
        var record = new RequestRecord(time);
        context.Items[s_key] = record;
        context.Response.OnStarting(static state =>
        {
            var started = (RequestRecord)state;
            started.FirstByteTimestamp = started.Time.GetTimestamp();
            return Task.CompletedTask;
        }, record);
        return record;
    }
}
