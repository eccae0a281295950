using CcxProxy.Hosting;

namespace CcxProxy;

/// <summary>Entry point: <c>dotnet run --project src/Proxy</c> or the published <c>ccx-proxy</c> binary.</summary>
public static class Program
{
    /// <summary>Runs the gateway until it is stopped, or the <c>healthcheck</c> verb.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args is [HealthCheckCommand.Verb, ..])
        {
            return await HealthCheckCommand.RunAsync(args[1..]).ConfigureAwait(false);
        }

        await GatewayApp.Build(args).RunAsync().ConfigureAwait(false);
        return 0;
    }
}
