using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>How an attempt ended, from the relay's point of view.</summary>
public enum AttemptOutcome
{
    /// <summary>No response was received (the forwarder reports why).</summary>
    NoResponse,

    /// <summary>The response was relayed to the client completely.</summary>
    Completed,

    /// <summary>The upstream stream broke or ended early; the client got an error event.</summary>
    UpstreamCut,

    /// <summary>The upstream went silent longer than the idle timeout; the client got an error event.</summary>
    IdleTimeout,

    /// <summary>The client went away; the upstream request was cancelled.</summary>
    ClientAborted,

    /// <summary>The upstream failed before anything reached the client, and another candidate may answer (see <see cref="UpstreamAttempt.RetryReason"/>).</summary>
    Retryable,

    /// <summary>A stream sent no content within the first-content timeout; the client got an error event.</summary>
    FirstContentTimeout,
}

/// <summary>
/// The mutable record of one upstream attempt: filled by the transformer as the response arrives,
/// read by the host afterwards. One instance per attempt, used by one request only.
/// </summary>
public sealed class UpstreamAttempt
{
    private readonly Action? _onResponseHeaders;

    /// <summary>Creates an attempt record, started now.</summary>
    /// <param name="time">The call's clock (<see cref="UpstreamCall.Time"/>).</param>
    /// <param name="onResponseHeaders">Called once when response headers arrive (the host disarms its
    /// time-to-headers timeout there).</param>
    public UpstreamAttempt(TimeProvider time, Action? onResponseHeaders = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _onResponseHeaders = onResponseHeaders;
        StartedTimestamp = time.GetTimestamp();
    }

    /// <summary>
    /// When the attempt started, as a timestamp of the call's clock: the first-content timeout counts from here
    /// (<see cref="TimeProvider.GetElapsedTime(long)"/>).
    /// </summary>
    public long StartedTimestamp { get; }

    /// <summary>The upstream's status code, once headers arrived.</summary>
    public int? UpstreamStatus { get; private set; }

    /// <summary>How the attempt ended.</summary>
    public AttemptOutcome Outcome { get; internal set; } = AttemptOutcome.NoResponse;

    /// <summary>Token usage of the answer, once known (from the JSON answer, or from the stream as it went).</summary>
    public Conversion.StreamUsage? Usage { get; internal set; }

    /// <summary>Why the attempt is <see cref="AttemptOutcome.Retryable"/>.</summary>
    public string? RetryReason { get; internal set; }

    /// <summary>
    /// Why the upstream failed, for every failure of the upstream whether or not the attempt could fail over;
    /// <see cref="FailureKind.None"/> for an answer, a client mistake (4xx other than 401, 403, 429) or a
    /// client that went away. The relay sets it; the host sets <see cref="FailureKind.Unreachable"/> and
    /// <see cref="FailureKind.HeadersTimeout"/>, which happen before the relay runs.
    /// </summary>
    public FailureKind Failure { get; set; }

    /// <summary>
    /// How long the upstream asked callers to wait (<c>retry-after-ms</c>, <c>retry-after</c>, or the reset of an
    /// exhausted rate limit; see <see cref="Protocols.RetryHints"/>), read from every response with status
    /// 400 or more; null when it gave no hint. Not clamped.
    /// </summary>
    public TimeSpan? RetryAfter { get; internal set; }

    /// <summary>
    /// For streams: the call's clock's timestamp (<see cref="TimeProvider.GetTimestamp"/>) when the first content event (text,
    /// thinking, a tool call) came from the upstream and went to the client; null until then (time to first token).
    /// </summary>
    public long? FirstContentTimestamp { get; internal set; }

    /// <summary>True when the response to the client has started (nothing can be retried after this).</summary>
    public bool ClientResponseStarted { get; internal set; }

    internal void ResponseHeadersReceived(int status)
    {
        UpstreamStatus = status;
        _onResponseHeaders?.Invoke();
    }
}
