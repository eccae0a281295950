using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Channels;

/// <summary>
/// YARP's client factory plus the channel's connect timeout and trace-context policy from cluster metadata.
/// The base keeps its defaults (UseProxy=false, AllowAutoRedirect=false, AutomaticDecompression=None,
/// UseCookies=false). The caller's own trace headers are always dropped; the gateway's are injected only
/// for channels that allow it.
/// </summary>
internal sealed class ChannelForwarderHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        if (TryGetConnectTimeout(context.NewMetadata, out var timeout))
        {
            handler.ConnectTimeout = timeout;
        }

        handler.ActivityHeadersPropagator = new ReverseProxyPropagator(PropagatesTraceContext(context.NewMetadata)
            ? new TraceContextOnlyPropagator(DistributedContextPropagator.Current)
            : DistributedContextPropagator.CreateNoOutputPropagator());
    }

    internal static bool PropagatesTraceContext(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(ChannelClusterMetadata.PropagateTraceContext, out var value) && value == "true";

    // The base reuses the old client when the HttpClientConfig is unchanged; a new connect timeout
    // lives in metadata, so it must also force a new client.
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context)
        && string.Equals(GetValue(context.OldMetadata), GetValue(context.NewMetadata), StringComparison.Ordinal)
        && PropagatesTraceContext(context.OldMetadata) == PropagatesTraceContext(context.NewMetadata);

    /// <summary>Test seam: runs <see cref="ConfigureHandler"/>.</summary>
    internal void ConfigureHandlerForTest(ForwarderHttpClientContext context, SocketsHttpHandler handler) => ConfigureHandler(context, handler);

    /// <summary>Test seam: runs <see cref="CanReuseOldClient"/>.</summary>
    internal bool CanReuseOldClientForTest(ForwarderHttpClientContext context) => CanReuseOldClient(context);

    internal static bool TryGetConnectTimeout(IReadOnlyDictionary<string, string>? metadata, out TimeSpan timeout)
    {
        timeout = default;
        return GetValue(metadata) is { } text
            && TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out timeout)
            && timeout > TimeSpan.Zero;
    }

    private static string? GetValue(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(ChannelClusterMetadata.ConnectTimeout, out var value) ? value : null;
}
