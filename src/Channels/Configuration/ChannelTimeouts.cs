namespace CcxProxy.Channels;

/// <summary>Upstream timeouts of one channel. File field <c>"timeouts"</c>, values in seconds.</summary>
public sealed record ChannelTimeouts
{
    /// <summary>TCP + TLS connect timeout (<c>"connect"</c>, default 10 s).</summary>
    public TimeSpan Connect { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Time from sending the request to receiving response headers (<c>"responseHeaders"</c>, default 600 s).</summary>
    public TimeSpan ResponseHeaders { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>
    /// For streams: time from sending the request to the first content event (text, thinking, a tool call),
    /// however many pings or empty chunks come before it (<c>"firstContent"</c>, default 180 s). A stream
    /// that has not begun by then fails over to the next candidate, or ends with a timeout error event.
    /// </summary>
    public TimeSpan FirstContent { get; init; } = TimeSpan.FromSeconds(180);

    /// <summary>Maximum silence between two body reads (<c>"idle"</c>, default 300 s).</summary>
    public TimeSpan Idle { get; init; } = TimeSpan.FromSeconds(300);
}
