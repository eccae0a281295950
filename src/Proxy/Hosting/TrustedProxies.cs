using System.Net;
using Microsoft.AspNetCore.HttpOverrides;

namespace CcxProxy.Hosting;

/// <summary>
/// Behind an ingress every connection comes from the ingress controller, so the client's own address is
/// in <c>X-Forwarded-For</c>. That header is believed only from the networks listed in
/// <c>ForwardedHeaders:TrustedNetworks</c> (CIDRs, comma-separated): anyone else could write any address
/// into it. Unset, the header is ignored and the connection's address is the client's.
/// </summary>
internal static class TrustedProxies
{
    /// <summary>The setting that lists the trusted networks.</summary>
    public const string Setting = "ForwardedHeaders:TrustedNetworks";

    /// <summary>The middleware's options, or null when no network is trusted.</summary>
    /// <exception cref="InvalidOperationException">An entry is not an address or a network in CIDR notation.</exception>
    public static ForwardedHeadersOptions? Options(IConfiguration configuration)
    {
        var entries = (configuration[Setting] ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
        {
            return null;
        }

        var options = new ForwardedHeadersOptions
        {
            ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto,
            // Walk back through every trusted hop (a cloud load balancer, then the ingress), stopping at the first untrusted one.
            ForwardLimit = null,
        };
        options.KnownIPNetworks.Clear();
        options.KnownProxies.Clear();
        foreach (var entry in entries)
        {
            var cidr = entry.Contains('/', StringComparison.Ordinal) ? entry
                : IPAddress.TryParse(entry, out var address) ? $"{entry}/{(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32)}"
                : entry;
            if (!System.Net.IPNetwork.TryParse(cidr, out var network))
            {
                throw new InvalidOperationException($"{Setting}: '{entry}' is not an IP address or a network in CIDR notation (for example 10.0.0.0/8)");
            }

            options.KnownIPNetworks.Add(network);
        }

        return options;
    }
}
