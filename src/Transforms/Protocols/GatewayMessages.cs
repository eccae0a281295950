namespace CcxProxy.Transforms.Protocols;

/// <summary>The gateway's own words for failures only its operator can fix, the same wherever they are written.</summary>
public static class GatewayMessages
{
    /// <summary>
    /// The upstream refused the channel's own key. The caller cannot fix that (a 401 passed on would tell Claude Code
    /// its own key is wrong), so it is a gateway-side 502 that clients should not retry (<c>x-should-retry: false</c>).
    /// </summary>
    /// <param name="channel">The channel whose keys were refused.</param>
    /// <param name="status">The upstream's status (401 or 403), when one answer is meant.</param>
    /// <returns>The message.</returns>
    public static string KeysRefused(string channel, int? status = null) =>
        $"the upstream of channel '{channel}' rejected the channel's credentials{(status is { } s ? $" (HTTP {s})" : "")}; the gateway operator must fix the channel's apiKeys";
}
