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
/// What one upstream attempt came to, as the host reads it once the attempt is over: immutable.
/// </summary>
public sealed record AttemptResult
{
    /// <summary>How the attempt ended.</summary>
    public required AttemptOutcome Outcome { get; init; }

    /// <summary>
    /// Why the upstream failed, for every failure of the upstream whether or not the attempt could fail over;
    /// <see cref="FailureKind.None"/> for an answer, a client mistake (4xx other than 401, 403, 429) or a
    /// client that went away.
    /// </summary>
    public FailureKind Failure { get; init; }

    /// <summary>
    /// How long the upstream asked callers to wait (<c>retry-after-ms</c>, <c>retry-after</c>, or the reset of an
    /// exhausted rate limit; see <see cref="Protocols.RetryHints"/>), read from every response with status
    /// 400 or more; null when it gave no hint. Not clamped.
    /// </summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Token usage of the answer, when one was relayed.</summary>
    public Conversion.StreamUsage? Usage { get; init; }

    /// <summary>
    /// For streams: the call's clock's timestamp (<see cref="TimeProvider.GetTimestamp"/>) when the first content event (text,
    /// thinking, a tool call) came from the upstream and went to the client; null if none did (time to first token).
    /// </summary>
    public long? FirstContentTimestamp { get; init; }

    /// <summary>The upstream's status code, when headers arrived.</summary>
    public int? UpstreamStatus { get; init; }

    /// <summary>Why the attempt is <see cref="AttemptOutcome.Retryable"/>: nothing was written, and the next candidate may answer.</summary>
    public string? RetryReason { get; init; }

    /// <summary>The error the host answers with: the attempt failed, wrote nothing and may not hand over.</summary>
    public Protocols.GatewayError? Error { get; init; }
}

/// <summary>
/// One upstream attempt while it runs: owns its time-to-headers deadline (armed at the start, disarmed when the
/// upstream's headers arrive) and collects what the transformer and the relay learn; the host reads the outcome
/// once, as an <see cref="AttemptResult"/>. One instance per attempt, used by one request only.
/// </summary>
public sealed class UpstreamAttempt : IDisposable
{
    private readonly CancellationTokenSource _cancellation;

    /// <summary>Creates an attempt record, started now.</summary>
    /// <param name="time">The call's clock (<see cref="UpstreamCall.Time"/>).</param>
    /// <param name="headersTimeout">How long the upstream has to send its response headers.</param>
    /// <param name="clientAborted">The client's token: the attempt ends when the client leaves.</param>
    public UpstreamAttempt(TimeProvider time, TimeSpan headersTimeout, CancellationToken clientAborted)
    {
        ArgumentNullException.ThrowIfNull(time);
        StartedTimestamp = time.GetTimestamp();
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(clientAborted);
        _cancellation.CancelAfter(headersTimeout);
    }

    /// <summary>Ends the attempt's upstream call: the client left, or no headers came in time.</summary>
    public CancellationToken Token => _cancellation.Token;

    /// <summary>True when the time-to-headers deadline (or the client) ended the attempt before any headers arrived.</summary>
    public bool EndedBeforeHeaders => UpstreamStatus is null && _cancellation.IsCancellationRequested;

    /// <summary>
    /// When the attempt started, as a timestamp of the call's clock: the first-content timeout counts from here
    /// (<see cref="TimeProvider.GetElapsedTime(long)"/>).
    /// </summary>
    public long StartedTimestamp { get; }

    /// <summary>The upstream's status code, once headers arrived.</summary>
    public int? UpstreamStatus { get; private set; }

    internal AttemptOutcome Outcome { get; set; } = AttemptOutcome.NoResponse;

    internal Conversion.StreamUsage? Usage { get; set; }

    internal string? RetryReason { get; set; }

    internal FailureKind Failure { get; set; }

    internal TimeSpan? RetryAfter { get; set; }

    internal long? FirstContentTimestamp { get; set; }

    internal Protocols.GatewayError? Error { get; set; }

    /// <summary>What the attempt came to, so far (the whole of it once the forwarder has returned).</summary>
    public AttemptResult Result() => new()
    {
        Outcome = Outcome,
        Failure = Failure,
        RetryAfter = RetryAfter,
        Usage = Usage,
        FirstContentTimestamp = FirstContentTimestamp,
        UpstreamStatus = UpstreamStatus,
        RetryReason = RetryReason,
        Error = Error,
    };

    /// <inheritdoc />
    public void Dispose() => _cancellation.Dispose();

    internal void ResponseHeadersReceived(int status)
    {
        UpstreamStatus = status;
        _cancellation.CancelAfter(Timeout.InfiniteTimeSpan);
    }
}
