using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Channels;

/// <summary>
/// YARP's client factory plus the channel's connect timeout and trace-context policy from cluster metadata.
/// The base keeps its defaults (UseProxy=false, AllowAutoRedirect=false, AutomaticDecompression=None,
/// UseCookies=false). The caller's own trace headers are always dropped; the gateway's are injected only
/// for channels that allow it. A channel's extra CAs (<c>caCertificates</c>) are trusted besides the system's;
/// nothing turns certificate validation off.
/// </summary>
internal sealed partial class ChannelForwarderHttpClientFactory : ForwarderHttpClientFactory
{
    private readonly ILogger _logger;

    public ChannelForwarderHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger)
        : base(logger)
    {
        _logger = logger;
    }

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

        if (ExtraRoots(context.NewMetadata) is { } roots)
        {
            var channel = context.ClusterId;
            handler.SslOptions.RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                if (CertificateTrust.Validate(certificate, chain, errors, roots) is not { } refused)
                {
                    return true;
                }

                // The handshake's own exception only says "rejected by the callback": say why here.
                Log.CertificateRefused(_logger, channel, (sender as SslStream)?.TargetHostName ?? "?", refused);
                return false;
            };
        }
    }

    /// <summary>The channel's extra trusted CAs, or null when it names none.</summary>
    internal static X509Certificate2Collection? ExtraRoots(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null || !metadata.TryGetValue(ChannelClusterMetadata.CaCertificates, out var pem) || pem.Length == 0)
        {
            return null;
        }

        return CertificateTrust.Load(pem);
    }

    internal static bool PropagatesTraceContext(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(ChannelClusterMetadata.PropagateTraceContext, out var value) && value == "true";

    // The base reuses the old client when the HttpClientConfig is unchanged; a new connect timeout
    // lives in metadata, so it must also force a new client.
    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context)
        && string.Equals(GetValue(context.OldMetadata), GetValue(context.NewMetadata), StringComparison.Ordinal)
        && PropagatesTraceContext(context.OldMetadata) == PropagatesTraceContext(context.NewMetadata)
        && string.Equals(CaPem(context.OldMetadata), CaPem(context.NewMetadata), StringComparison.Ordinal);

    private static string? CaPem(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue(ChannelClusterMetadata.CaCertificates, out var value) ? value : null;

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

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Channel {Channel}: the TLS certificate of {Host} was refused: {Reason}")]
        public static partial void CertificateRefused(ILogger logger, string channel, string host, string reason);
    }
}
