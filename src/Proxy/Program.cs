using CcxProxy.Hosting;

namespace CcxProxy;

/// <summary>Entry point: <c>dotnet run --project src/Proxy</c> or the published <c>ccx-proxy</c> binary.</summary>
public static class Program
{
    /// <summary>Runs the gateway until it is stopped.</summary>
    public static Task Main(string[] args) => GatewayApp.Build(args).RunAsync();
}
