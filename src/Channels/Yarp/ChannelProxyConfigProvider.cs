using System.Globalization;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace CcxProxy.Channels;

/// <summary>
/// Turns the live channels into YARP clusters: one cluster per channel (id = channel name), destinations
/// <c>d0</c>, <c>d1</c>, ... per base URL. No routes: the host picks the channel per request itself.
/// </summary>
internal sealed class ChannelProxyConfigProvider(IChannelStore store) : IProxyConfigProvider
{
    private readonly Lock _lock = new();
    private (ChannelSnapshot Snapshot, ChannelProxyConfig Config)? _cached;

    public IProxyConfig GetConfig()
    {
        // Take the token before the snapshot: if a publish slips in between, the token has fired
        // and YARP simply asks again.
        var token = store.GetChangeToken();
        var snapshot = store.Current;
        lock (_lock)
        {
            if (_cached is { } cached && ReferenceEquals(cached.Snapshot, snapshot))
            {
                return cached.Config;
            }

            var config = new ChannelProxyConfig(BuildClusters(snapshot), token, snapshot.Version.ToString(CultureInfo.InvariantCulture));
            _cached = (snapshot, config);
            return config;
        }
    }

    internal static List<ClusterConfig> BuildClusters(ChannelSnapshot snapshot)
    {
        var clusters = new List<ClusterConfig>(snapshot.Channels.Count);
        foreach (var channel in snapshot.Channels)
        {
            var destinations = new Dictionary<string, DestinationConfig>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < channel.BaseUrls.Count; i++)
            {
                destinations["d" + i.ToString(CultureInfo.InvariantCulture)] = new DestinationConfig
                {
                    Address = channel.BaseUrls[i].AbsoluteUri.TrimEnd('/'),
                };
            }

            var timeouts = channel.Timeouts;
            var metadata = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
            {
                [ChannelClusterMetadata.ConnectTimeout] = timeouts.Connect.ToString("c", CultureInfo.InvariantCulture),
                [ChannelClusterMetadata.ResponseHeadersTimeout] = timeouts.ResponseHeaders.ToString("c", CultureInfo.InvariantCulture),
                [ChannelClusterMetadata.IdleTimeout] = timeouts.Idle.ToString("c", CultureInfo.InvariantCulture),
                [ChannelClusterMetadata.WireProtocol] = channel.Type.ChannelType(),
                [ChannelClusterMetadata.PropagateTraceContext] = channel.PropagateTraceContext ? "true" : "false",
            };
            if (channel.CaCertificatesPem is { } pem)
            {
                metadata[ChannelClusterMetadata.CaCertificates] = pem;
            }

            clusters.Add(new ClusterConfig
            {
                ClusterId = channel.Name,
                Destinations = destinations,
                HttpClient = new HttpClientConfig { EnableMultipleHttp2Connections = true },

                // No HttpRequest config: every attempt is sent with the host's own (AttemptStage), whose timeouts
                // are the attempt's time to headers and the relay's idle and first-content deadlines.
                Metadata = metadata,
            });
        }

        return clusters;
    }

    private sealed class ChannelProxyConfig(IReadOnlyList<ClusterConfig> clusters, IChangeToken changeToken, string revisionId) : IProxyConfig
    {
        public string RevisionId => revisionId;

        public IReadOnlyList<RouteConfig> Routes => [];

        public IReadOnlyList<ClusterConfig> Clusters => clusters;

        public IChangeToken ChangeToken => changeToken;
    }
}
