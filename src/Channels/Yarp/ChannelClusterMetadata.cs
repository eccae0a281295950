
namespace CcxProxy.Channels;

/// <summary>Metadata keys the channel config provider puts on each YARP cluster. Timeouts are
/// <see cref="TimeSpan"/> values in the invariant "c" format (for example <c>00:00:10</c>).</summary>
public static class ChannelClusterMetadata
{
    /// <summary>TCP + TLS connect timeout, applied by the channel-aware forwarder HTTP client factory.</summary>
    public const string ConnectTimeout = "ccx.connectTimeout";

    /// <summary>Time allowed from sending the request to receiving response headers (enforced by the host).</summary>
    public const string ResponseHeadersTimeout = "ccx.responseHeadersTimeout";

    /// <summary>Maximum silence between two body reads (enforced by the host).</summary>
    public const string IdleTimeout = "ccx.idleTimeout";

    /// <summary><c>true</c> when the channel sends W3C trace context upstream (read by the HTTP client factory).</summary>
    public const string PropagateTraceContext = "ccx.propagateTraceContext";

    /// <summary>Extra CA certificates (PEM) trusted for the channel's TLS connections, besides the system's; absent when none.</summary>
    public const string CaCertificates = "ccx.caCertificates";

    /// <summary>The channel type, <c>anthropic</c> or <c>openai</c>.</summary>
    public const string WireProtocol = "ccx.channelType";
}
