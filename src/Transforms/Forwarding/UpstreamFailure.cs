namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// Why an upstream attempt failed, in terms a circuit breaker can count: set for every failure of the
/// upstream, whether or not another candidate could take over. The client's own mistakes (400, 404, 413,
/// 422 …), a client that went away and a gateway shutting down are not failures of the upstream.
/// </summary>
public enum UpstreamFailure
{
    /// <summary>The upstream did not fail (it answered, or the request failed for a reason that is not the upstream's).</summary>
    None,

    /// <summary>Connection refused or reset, or the name did not resolve (set by the host, not the relay).</summary>
    Unreachable,

    /// <summary>No response headers in time (set by the host).</summary>
    HeadersTimeout,

    /// <summary>The upstream answered 401 or 403: it refused the channel's own key.</summary>
    KeyRejected,

    /// <summary>The upstream answered 429.</summary>
    RateLimited,

    /// <summary>The upstream answered 529 or 503.</summary>
    Overloaded,

    /// <summary>The upstream answered 500, 502, 504 or any other 5xx.</summary>
    ServerError,

    /// <summary>An empty body, a body that is not JSON, or JSON that is not an answer of the upstream's protocol.</summary>
    BadAnswer,

    /// <summary>A stream that sent an error event, broke, or ended before it finished (before or after its first content).</summary>
    StreamFailed,

    /// <summary>A stream sent no content within the channel's first-content timeout.</summary>
    FirstContentTimeout,

    /// <summary>The upstream went silent for longer than the channel's idle timeout.</summary>
    IdleTimeout,
}
