using System.Net;
using System.Net.Sockets;

namespace CcxProxy.TestSupport;

/// <summary>Loopback ports for tests.</summary>
public static class FreePort
{
    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it for a listener we closed).</summary>
    /// <returns>The port.</returns>
    public static int Get()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    /// <summary>An <c>http://127.0.0.1:PORT</c> address with nothing listening: connections are refused.</summary>
    /// <returns>The address, without a trailing slash.</returns>
    public static Uri ClosedUrl() => new($"http://127.0.0.1:{Get()}");
}
