namespace CcxProxy.Cli;

/// <summary>
/// The operator verbs of the <c>ccx-proxy</c> binary: <c>keys …</c>, <c>usage</c> and <c>validate</c> (docs/cli.md).
/// They read the same configuration as the server: <c>appsettings.json</c> (and
/// <c>appsettings.{Environment}.json</c>) in the working directory, environment variables
/// (<c>Redis__Configuration</c>), then <c>--Section:Key=value</c> arguments.
/// </summary>
/// <remarks>Exit codes: 0 done, 1 failed (errors found, no such key, Redis unreachable), 2 bad usage or nothing to act on.</remarks>
internal static class CliApp
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The command ran and found a problem.</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments, or a command that cannot run in this configuration.</summary>
    public const int Usage = 2;

    /// <summary>True when <paramref name="args"/> start with one of the CLI verbs.</summary>
    public static bool Handles(string[] args) => args is [KeysCommand.Verb or ValidateCommand.Verb or UsageCommand.Verb, ..];

    /// <summary>Runs the verb with the process's console.</summary>
    public static Task<int> RunAsync(string[] args) =>
        RunAsync(args, new CliContext { Out = Console.Out, Error = Console.Error });

    /// <summary>Runs the verb in <paramref name="args"/> (its first element).</summary>
    public static async Task<int> RunAsync(string[] args, CliContext context)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(context);
        return args switch
        {
            [KeysCommand.Verb, .. var rest] => await KeysCommand.RunAsync(rest, context).ConfigureAwait(false),
            [ValidateCommand.Verb, .. var rest] => await ValidateCommand.RunAsync(rest, context).ConfigureAwait(false),
            [UsageCommand.Verb, .. var rest] => await UsageCommand.RunAsync(rest, context).ConfigureAwait(false),
            _ => await UsageAsync(context, "unknown command", KeysCommand.UsageText + ValidateCommand.UsageText + UsageCommand.UsageText).ConfigureAwait(false),
        };
    }

    /// <summary>The server's configuration sources, in the server's order.</summary>
    public static IConfiguration BuildConfiguration(CliContext context, IEnumerable<string> configurationArgs)
    {
        ArgumentNullException.ThrowIfNull(context);
        var environmentOnly = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var environmentName = environmentOnly["ASPNETCORE_ENVIRONMENT"] ?? environmentOnly["DOTNET_ENVIRONMENT"] ?? "Production";
        return new ConfigurationBuilder()
            .SetBasePath(Path.GetFullPath(context.WorkingDirectory))
            .AddJsonFile("appsettings.json", optional: true, reloadOnChange: false)
            .AddJsonFile($"appsettings.{environmentName}.json", optional: true, reloadOnChange: false)
            .AddEnvironmentVariables()
            .AddCommandLine([.. configurationArgs])
            .Build();
    }

    /// <summary>True for <c>-h</c>, <c>--help</c> or <c>help</c> anywhere in <paramref name="args"/>.</summary>
    public static bool WantsHelp(IEnumerable<string> args) => args.Any(a => a is "-h" or "--help" or "help");

    /// <summary>Writes the error and the usage text to standard error; returns <see cref="Usage"/>.</summary>
    public static async Task<int> UsageAsync(CliContext context, string error, string usage)
    {
        ArgumentNullException.ThrowIfNull(context);
        await context.Error.WriteLineAsync($"error: {error}").ConfigureAwait(false);
        await context.Error.WriteLineAsync().ConfigureAwait(false);
        await context.Error.WriteAsync(usage).ConfigureAwait(false);
        return Usage;
    }
}
