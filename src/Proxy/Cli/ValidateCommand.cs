using CcxProxy.Channels;
using CcxProxy.Hosting;

namespace CcxProxy.Cli;

/// <summary>
/// <c>ccx-proxy validate [--channels DIR]</c>: checks every channel file (and <c>groups.json</c>) with the
/// parsers the gateway loads them with, prints every error as <c>file: field: message</c>, and exits 0 when
/// all are valid, 1 otherwise. CI and a ConfigMap change can run it before the gateway sees the files.
/// </summary>
internal static class ValidateCommand
{
    public const string Verb = "validate";

    public const string UsageText = """
        usage:
          ccx-proxy validate [--channels DIR]
          Checks every *.json in DIR (default: Channels:Directory, else ./channels), groups.json included.
          env:NAME values are resolved like the server does (environment variables, configuration).
          Exit code 0 when every file is valid, 1 when any is not.

        """;

    public static async Task<int> RunAsync(string[] args, CliContext context)
    {
        if (CliApp.WantsHelp(args))
        {
            await context.Out.WriteAsync(UsageText).ConfigureAwait(false);
            return CliApp.Ok;
        }

        if (!CliArguments.TryParse(args, ["channels"], [], out var parsed, out var error))
        {
            return await CliApp.UsageAsync(context, $"validate: {error}", UsageText).ConfigureAwait(false);
        }

        if (parsed.Positionals.Count > 0)
        {
            return await CliApp.UsageAsync(context, $"validate takes no argument (got '{parsed.Positionals[0]}'); use --channels DIR", UsageText).ConfigureAwait(false);
        }

        var configuration = CliApp.BuildConfiguration(context, parsed.ConfigurationArgs);
        var directory = Path.GetFullPath(parsed.Value("channels") ?? (configuration.GetSection(ChannelsSettings.Section).Get<ChannelsSettings>() ?? new ChannelsSettings()).Directory, context.WorkingDirectory);
        if (!Directory.Exists(directory))
        {
            await context.Error.WriteLineAsync($"error: the channel directory {directory} does not exist").ConfigureAwait(false);
            return CliApp.Failed;
        }

        var environment = context.Environment ?? (name => configuration[name]);

        // The same selection as the gateway's loader: *.json directly in the folder, dot-files skipped.
        var files = Directory.EnumerateFiles(directory, "*.json", SearchOption.TopDirectoryOnly)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => !name.StartsWith('.') && name.EndsWith(".json", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();

        var errors = new List<ChannelConfigError>();
        var invalidFiles = 0;
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            byte[] bytes;
            try
            {
                bytes = await File.ReadAllBytesAsync(Path.Combine(directory, file)).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ChannelConfigError(file, "(file)", $"cannot be read: {ex.Message}"));
                invalidFiles++;
                continue;
            }

            IReadOnlyList<ChannelConfigError> fileErrors;
            if (file == GroupsFileParser.FileName)
            {
                fileErrors = GroupsFileParser.Parse(file, bytes).Errors;
            }
            else
            {
                var result = ChannelFileParser.Parse(file, bytes, environment, directory);
                fileErrors = result.Errors;
                if (result.Channel is { } channel && !names.TryAdd(channel.Name, file))
                {
                    fileErrors = [.. fileErrors, new ChannelConfigError(file, "name", $"channel name '{channel.Name}' is also used by {names[channel.Name]}")];
                }
            }

            if (fileErrors.Count > 0)
            {
                invalidFiles++;
                errors.AddRange(fileErrors);
            }
        }

        foreach (var configError in errors)
        {
            await context.Out.WriteLineAsync(configError.ToString()).ConfigureAwait(false);
        }

        await context.Out.WriteLineAsync(files.Count == 0
            ? $"{directory}: no channel files (*.json)"
            : invalidFiles == 0
                ? $"{directory}: {files.Count} file(s), all valid"
                : $"{directory}: {invalidFiles} of {files.Count} file(s) invalid, {errors.Count} error(s)").ConfigureAwait(false);
        return invalidFiles == 0 ? CliApp.Ok : CliApp.Failed;
    }
}
