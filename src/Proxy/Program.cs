using CcxProxy.Cli;
using CcxProxy.Hosting;

namespace CcxProxy;

/// <summary>Entry point: <c>dotnet run --project src/Proxy</c> or the published <c>ccx-proxy</c> binary.</summary>
public static class Program
{
    /// <summary>Runs the gateway until it is stopped, or one of the verbs <c>healthcheck</c>, <c>keys</c>, <c>validate</c> (docs/cli.md).</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args is [HealthCheckCommand.Verb, ..])
        {
            return await HealthCheckCommand.RunAsync(args[1..]).ConfigureAwait(false);
        }

        if (CliApp.Handles(args))
        {
            return await CliApp.RunAsync(args).ConfigureAwait(false);
        }

        await GatewayApp.Build(args).RunAsync().ConfigureAwait(false);
        return 0;
    }
}
