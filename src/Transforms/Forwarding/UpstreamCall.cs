using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>Everything one upstream attempt sends, decided by the host before forwarding.</summary>
public sealed class UpstreamCall
{
    /// <summary>The clock of the call's timeouts, keep-alives and timestamps: the host's (required, so the core never reads the system clock itself).</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>The request body to send, already rewritten (model mapped).</summary>
    public required ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>
    /// The path to request under the destination's base URL (<c>/v1/messages</c>), spelled canonically
    /// whatever case the client used; the client's query string is kept.
    /// </summary>
    public required string UpstreamPath { get; init; }

    /// <summary>True to pass the client's query string on (same protocol on both sides: Claude Code's <c>?beta=true</c>).</summary>
    public bool KeepQuery { get; init; } = true;

    /// <summary>The protocol the client speaks: errors the gateway makes are written in it.</summary>
    public WireProtocol WireProtocol { get; init; } = WireProtocol.Anthropic;

    /// <summary>The protocol the upstream speaks: decides which protocol headers are sent.</summary>
    public WireProtocol UpstreamProtocol { get; init; } = WireProtocol.Anthropic;

    /// <summary>
    /// True when another candidate can take over: a retryable failure before anything reached the client
    /// (401/403 for the channel's key, 429, 500, 502, 503, 529, an empty or unreadable answer, a stream that fails or sends no content within its first-content timeout before its first content) is then reported, not relayed.
    /// </summary>
    public bool MayFailOver { get; init; }

    /// <summary>Fires when the gateway is shutting down and streams still running must end (with an error event).</summary>
    public CancellationToken DrainDeadline { get; init; }

    /// <summary>How the answer is converted for the client.</summary>
    public required ResponsePlan Plan { get; init; }

    /// <summary>How long the upstream may stay silent mid-stream before the client gets a keep-alive.</summary>
    public TimeSpan PingInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The model name the client asked for; responses report this name.</summary>
    public required string ClientModel { get; init; }

    /// <summary>The channel's key for this attempt. Never logged.</summary>
    public required string UpstreamKey { get; init; }

    /// <summary>How to present <see cref="UpstreamKey"/>.</summary>
    public required UpstreamAuth Auth { get; init; }

    /// <summary>Headers the channel adds to every upstream request.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>Longest silence allowed between two reads of the upstream response body.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// For streams: longest time from the start of the attempt (<see cref="UpstreamAttempt"/> creation) to the
    /// first content event. Infinite by default.
    /// </summary>
    public TimeSpan FirstContentTimeout { get; init; } = Timeout.InfiniteTimeSpan;

    /// <summary>Largest non-streamed upstream response body the gateway will hold to rewrite.</summary>
    public int MaxResponseBytes { get; init; } = 64 * 1024 * 1024;

    /// <summary>Gateway request id, written into error bodies the gateway produces.</summary>
    public string? RequestId { get; init; }

    /// <summary>Records the answer for the response cache; null when the request is not to be stored.</summary>
    public ResponseCapture? Capture { get; init; }

    /// <summary>
    /// Awaited once the answer is complete, before its last bytes are written (a JSON answer whole, a stream's final
    /// frame): the gateway keeps an OpenAI Responses answer here, so the client never sees the end of one that a next
    /// request could not find. Null when nothing is to be done. It handles its own failures and timeout.
    /// </summary>
    public Func<Task>? BeforeLastWrite { get; init; }

    /// <summary>The channel's name, used in messages for the operator.</summary>
    public string ChannelName { get; init; } = "";
}
