namespace CcxProxy.Transforms.Vocabulary;

/// <summary>
/// Why an upstream attempt failed, in terms a circuit breaker can count. Set for every failure of the upstream,
/// whether or not another candidate could take over. The client's own mistakes (400, 404, 413, 422 …), a client that
/// went away and a gateway shutting down are not failures of the upstream. The kind decides whose breaker pays: the
/// upstream key (refused, rate limited), the destination (unreachable, no headers in time), or the channel (the rest).
/// </summary>
/// <remarks>The member names are stored in Redis (shared cooldowns): renaming one is a change of format.</remarks>
public enum FailureKind
{
    /// <summary>The upstream did not fail (it answered, or the request failed for a reason that is not the upstream's).</summary>
    None,

    /// <summary>Connection refused or reset, or the name did not resolve: the destination's fault.</summary>
    Unreachable,

    /// <summary>No response headers in time: the destination's fault.</summary>
    HeadersTimeout,

    /// <summary>The upstream answered 401 or 403: it refused the channel's key, which is left out until it recovers.</summary>
    KeyRejected,

    /// <summary>The upstream answered 429: that key is rate limited (cooled for the upstream's <c>retry-after</c>).</summary>
    RateLimited,

    /// <summary>The upstream answered 529 or 503: the provider is overloaded (the whole channel cools for its <c>retry-after</c>).</summary>
    Overloaded,

    /// <summary>The upstream answered 500, 502, 504 or any other 5xx.</summary>
    ServerError,

    /// <summary>An empty body, a body that is not JSON, or JSON that is not an answer of the upstream's protocol.</summary>
    BadAnswer,

    /// <summary>A stream that sent an error event, broke, or ended before it finished (before or after its first content).</summary>
    StreamFailed,

    /// <summary>A stream sent no content within the channel's <c>timeouts.firstContent</c>.</summary>
    FirstContentTimeout,

    /// <summary>The upstream went silent for longer than the channel's <c>timeouts.idle</c>.</summary>
    IdleTimeout,
}

/// <summary>Names used on the status page, in metrics and in logs (snake_case, stable).</summary>
public static class FailureKindNames
{
    /// <summary>The stable name of <paramref name="failure"/>.</summary>
    /// <param name="failure">The kind.</param>
    /// <returns>Its name, e.g. <c>rate_limited</c>.</returns>
    public static string Name(this FailureKind failure) => failure switch
    {
        FailureKind.None => "none",
        FailureKind.Unreachable => "unreachable",
        FailureKind.HeadersTimeout => "headers_timeout",
        FailureKind.KeyRejected => "key_rejected",
        FailureKind.RateLimited => "rate_limited",
        FailureKind.Overloaded => "overloaded",
        FailureKind.ServerError => "server_error",
        FailureKind.BadAnswer => "bad_answer",
        FailureKind.StreamFailed => "stream_failed",
        FailureKind.FirstContentTimeout => "first_content_timeout",
        FailureKind.IdleTimeout => "idle_timeout",
        _ => failure.ToString(),
    };
}
