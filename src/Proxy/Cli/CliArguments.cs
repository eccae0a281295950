namespace CcxProxy.Cli;

/// <summary>
/// A verb's arguments split into its own options, positional values, and configuration overrides
/// (<c>--Redis:Configuration=host:6379</c> or <c>--Redis:Configuration host:6379</c>: any option whose
/// name holds a <c>:</c>), which go to the same configuration the server reads.
/// </summary>
internal sealed class CliArguments
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);

    private CliArguments()
    {
    }

    /// <summary>Values that are not options, in order.</summary>
    public List<string> Positionals { get; } = [];

    /// <summary>Configuration overrides, in the form <see cref="Microsoft.Extensions.Configuration.CommandLineConfigurationExtensions"/> reads.</summary>
    public List<string> ConfigurationArgs { get; } = [];

    /// <summary>True when the option (value or flag) was given.</summary>
    public bool Has(string name) => _options.ContainsKey(name);

    /// <summary>The option's value, or null when absent.</summary>
    public string? Value(string name) => _options.GetValueOrDefault(name);

    /// <summary>Splits <paramref name="args"/>; false with a message naming the problem.</summary>
    /// <param name="args">The arguments after the verb.</param>
    /// <param name="valueOptions">Options that take a value (names without <c>--</c>).</param>
    /// <param name="flags">Options that take none.</param>
    /// <param name="parsed">The result.</param>
    /// <param name="error">What is wrong.</param>
    public static bool TryParse(IReadOnlyList<string> args, IReadOnlyCollection<string> valueOptions, IReadOnlyCollection<string> flags, out CliArguments parsed, out string error)
    {
        parsed = new CliArguments();
        error = "";
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (!token.StartsWith("--", StringComparison.Ordinal) || token.Length == 2)
            {
                parsed.Positionals.Add(token);
                continue;
            }

            var equals = token.IndexOf('=', StringComparison.Ordinal);
            var name = equals < 0 ? token[2..] : token[2..equals];
            string? inline = equals < 0 ? null : token[(equals + 1)..];

            if (flags.Contains(name))
            {
                if (inline is not null)
                {
                    error = $"--{name} takes no value";
                    return false;
                }

                if (!parsed._options.TryAdd(name, null))
                {
                    error = $"--{name} is given twice";
                    return false;
                }
            }
            else if (valueOptions.Contains(name) || name.Contains(':', StringComparison.Ordinal))
            {
                var value = inline;
                if (value is null)
                {
                    if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    {
                        error = $"--{name} needs a value";
                        return false;
                    }

                    value = args[++i];
                }

                if (valueOptions.Contains(name))
                {
                    if (!parsed._options.TryAdd(name, value))
                    {
                        error = $"--{name} is given twice";
                        return false;
                    }
                }
                else
                {
                    parsed.ConfigurationArgs.Add($"--{name}={value}");
                }
            }
            else
            {
                error = $"unknown option --{name}";
                return false;
            }
        }

        return true;
    }
}
