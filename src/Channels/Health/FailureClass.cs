namespace CcxProxy.Channels.Health;

/// <summary>
/// Why an upstream attempt failed, as far as health is concerned. The class decides whose breaker pays:
/// the upstream key (refused, rate limited), the destination (unreachable), or the channel (bad answers).
/// </summary>
public enum FailureClass
{
    /// <summary>Connection refused, reset, or the name did not resolve: the destination's fault.</summary>
    Unreachable,

    /// <summary>No response headers in time: the destination's fault.</summary>
    HeadersTimeout,

    /// <summary>The upstream refused the channel's key (401/403): that key is disabled until it recovers.</summary>
    KeyRejected,

    /// <summary>429: that key is rate limited (cooled for the upstream's <c>retry-after</c> when it gave one).</summary>
    RateLimited,

    /// <summary>529 or 503: the provider is overloaded (the whole channel cools for its <c>retry-after</c>).</summary>
    Overloaded,

    /// <summary>500, 502, 504 and other server errors.</summary>
    ServerError,

    /// <summary>An empty answer, not JSON, or JSON that is not an answer of the channel's protocol.</summary>
    BadAnswer,

    /// <summary>A stream that sent an error event, broke, or ended before it finished.</summary>
    StreamFailed,

    /// <summary>A stream that sent no content within the channel's <c>timeouts.firstContent</c>.</summary>
    FirstContentTimeout,

    /// <summary>A stream that went silent longer than the channel's <c>timeouts.idle</c>.</summary>
    IdleTimeout,
}

/// <summary>Names used on the status page and in logs (snake_case, stable).</summary>
public static class FailureClassNames
{
    /// <summary>The stable name of <paramref name="failure"/>.</summary>
    public static string Name(this FailureClass failure) => failure switch
    {
        FailureClass.Unreachable => "unreachable",
        FailureClass.HeadersTimeout => "headers_timeout",
        FailureClass.KeyRejected => "key_rejected",
        FailureClass.RateLimited => "rate_limited",
        FailureClass.Overloaded => "overloaded",
        FailureClass.ServerError => "server_error",
        FailureClass.BadAnswer => "bad_answer",
        FailureClass.StreamFailed => "stream_failed",
        FailureClass.FirstContentTimeout => "first_content_timeout",
        FailureClass.IdleTimeout => "idle_timeout",
        _ => failure.ToString(),
    };
}
