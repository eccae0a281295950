namespace CcxProxy.Hosting;

/// <summary>Host settings under <c>Proxy</c> in appsettings.json (see docs/configuration.md).</summary>
public sealed class GatewayOptions
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Proxy";

    /// <summary>Largest request body accepted, in bytes; larger ones get 413. Default 32 MiB, Anthropic's own limit.</summary>
    public long MaxRequestBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Largest non-streamed upstream answer the gateway holds to rewrite, in bytes. Default 64 MiB.</summary>
    public int MaxResponseBodyBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>
    /// While an upstream stream is silent, a keep-alive goes to the client this often (an Anthropic
    /// <c>ping</c> event, or an SSE comment for OpenAI clients), in seconds. Default 10.
    /// </summary>
    public double StreamKeepAliveSeconds { get; set; } = 10;

    /// <summary><see cref="StreamKeepAliveSeconds"/> as the code uses it.</summary>
    public TimeSpan StreamKeepAlive => TimeSpan.FromSeconds(StreamKeepAliveSeconds);

    /// <summary>
    /// Upstream attempts for one request, counting the first: the next channel, key or destination is tried
    /// when an attempt fails before anything reached the client (connection failures, no headers in time,
    /// 401/403 for the channel's key, 429, 500, 502, 503, 529, an empty answer, a stream failing before its
    /// first content). Default 3.
    /// </summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>
    /// No further attempt starts once this many seconds have passed since the request arrived; the last
    /// attempt's answer, whatever it is, goes to the client. Default 300.
    /// </summary>
    public double RetryDeadlineSeconds { get; set; } = 300;

    /// <summary><see cref="RetryDeadlineSeconds"/> as the code uses it.</summary>
    public TimeSpan RetryDeadline => TimeSpan.FromSeconds(RetryDeadlineSeconds);

    /// <summary>
    /// Runs the gateway's request code on the socket threads that read the bytes, instead of handing every read and
    /// every send to another thread (Kestrel's <c>UnsafePreferInlineScheduling</c>, and inline socket completions for
    /// the upstream connections). A trickled stream event then costs a fraction of a thread wake-up instead of about
    /// two, but bursts of events queue behind each other on those few threads (see bench/README.md, "Trickling
    /// streams"). Nothing on the request path blocks a thread, so it is safe to turn on. Default false.
    /// </summary>
    public bool InlineIoScheduling { get; set; }
}
