namespace CcxProxy.Transforms.Vocabulary;

/// <summary>Whose fault a failure is, and so what the next attempt changes and whose breaker counts it.</summary>
public enum FailureBlame
{
    /// <summary>The channel's upstream key (refused, rate limited): the same channel with its next key.</summary>
    Key,

    /// <summary>The destination (unreachable, no headers in time): the same channel at its next base URL.</summary>
    Destination,

    /// <summary>The channel's upstream (bad answers, server errors, broken streams): the next channel.</summary>
    Channel,
}

/// <summary>
/// The one failover policy: what an upstream's error status means, which failures another candidate may answer
/// instead of (when nothing has reached the client yet), and whose fault each failure is. The relay, the route plan
/// and the breakers all read it here.
/// </summary>
public static class FailoverPolicy
{
    /// <summary>What an upstream error status says about the upstream; the client's own mistakes are not its failures.</summary>
    /// <param name="status">The upstream's HTTP status, 400 or more.</param>
    /// <returns>The failure, or <see cref="FailureKind.None"/> for a client mistake.</returns>
    public static FailureKind Classify(int status) => status switch
    {
        401 or 403 => FailureKind.KeyRejected,
        429 => FailureKind.RateLimited,
        503 or 529 => FailureKind.Overloaded,
        >= 500 => FailureKind.ServerError,
        _ => FailureKind.None,
    };

    /// <summary>
    /// Whether another candidate may answer a request the upstream answered with <paramref name="status"/>, before
    /// anything reached the client. 401/403 mean the upstream refused this channel's key, which another channel's
    /// key may not share; 429, 500, 502, 503 and 529 are worth another upstream. Other 5xx (504 above all: the
    /// upstream's own gateway gave up on a request that may be long) are passed to the client; so are its mistakes.
    /// </summary>
    /// <param name="status">The upstream's HTTP status.</param>
    /// <returns>True when the next candidate may take over.</returns>
    public static bool FailsOver(int status) => status is 401 or 403 or 429 or 500 or 502 or 503 or 529;

    /// <summary>Whose fault <paramref name="failure"/> is.</summary>
    /// <param name="failure">A failure (not <see cref="FailureKind.None"/>).</param>
    /// <returns>The key, the destination or the channel.</returns>
    public static FailureBlame Blame(FailureKind failure) => failure switch
    {
        FailureKind.KeyRejected or FailureKind.RateLimited => FailureBlame.Key,
        FailureKind.Unreachable or FailureKind.HeadersTimeout => FailureBlame.Destination,
        _ => FailureBlame.Channel,
    };
}
