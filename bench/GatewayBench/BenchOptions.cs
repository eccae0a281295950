using System.Globalization;

namespace CcxProxy.Bench;

/// <summary>Command-line options; every loop of the benchmark is bounded by them.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/GatewayBench [-- options]
          --seconds N          measured time per cell (scenario x concurrency x target), default 10
          --concurrency A,B    concurrent requests, default 1,16
          --warmup N           requests before each measured cell, default 200
          --max-requests N     cap on requests per cell, default 100000
          --events N           text deltas per streamed answer, default 200
          --scenarios A,B      which scenarios to run: small, stream, convert, cached, cached-stream (the default),
                               trickle, trickle-convert (trickling streams; only when named)
          --streams A,B        trickle: streams open at once, default 1000,3000
          --interval-ms N      trickle: pause between a stream's events, default 500
          --window N           trickle: measured seconds once every stream is open, default 10
          --gateway-env N=V    an environment variable for the gateway process (repeatable), e.g. a runtime knob to compare
          --gateway-dll PATH   default src/Proxy/bin/Release/net10.0/ccx-proxy.dll (built when missing)
          --build              run "dotnet build -c Release src/Proxy" first even when the dll exists
          --output PATH        Markdown report, default bench/results/latest.md
        """;

    public double Seconds { get; init; } = 10;

    public IReadOnlyList<int> Concurrency { get; init; } = [1, 16];

    public int Warmup { get; init; } = 200;

    public int MaxRequests { get; init; } = 100_000;

    public int StreamEvents { get; init; } = 200;

    /// <summary>Every scenario, in the order they run.</summary>
    public static IReadOnlyList<string> AllScenarios { get; } = ["small", "stream", "convert", "cached", "cached-stream", "trickle", "trickle-convert"];

    /// <summary>What runs when no scenario is named: the closed-loop ones (the trickle ones take minutes and thousands of sockets).</summary>
    public static IReadOnlyList<string> DefaultScenarios { get; } = ["small", "stream", "convert", "cached", "cached-stream"];

    public IReadOnlyList<string> Scenarios { get; init; } = DefaultScenarios;

    public IReadOnlyList<int> Streams { get; init; } = [1000, 3000];

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan Window { get; init; } = TimeSpan.FromSeconds(10);

    public string? GatewayDll { get; init; }

    public IReadOnlyDictionary<string, string> GatewayEnvironment { get; init; } = new Dictionary<string, string>();

    public bool Build { get; init; }

    public string? Output { get; init; }

    /// <summary>Parses the arguments; null with <paramref name="error"/> set (or empty for --help) on failure.</summary>
    public static BenchOptions? Parse(string[] args, out string? error)
    {
        var options = new BenchOptions();
        error = null;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                error = "";
                return null;
            }

            if (name == "--build")
            {
                options = options with { Build = true };
                continue;
            }

            if (i + 1 >= args.Length)
            {
                error = $"{name} needs a value";
                return null;
            }

            var value = args[++i];
            var inv = CultureInfo.InvariantCulture;
            switch (name)
            {
                case "--seconds" when double.TryParse(value, NumberStyles.Float, inv, out var s) && s > 0 && s <= 600:
                    options = options with { Seconds = s };
                    break;
                case "--concurrency" when TryParseList(value, 1024, out var list):
                    options = options with { Concurrency = list };
                    break;
                case "--warmup" when int.TryParse(value, NumberStyles.None, inv, out var w) && w <= 100_000:
                    options = options with { Warmup = w };
                    break;
                case "--max-requests" when int.TryParse(value, NumberStyles.None, inv, out var m) && m >= 1:
                    options = options with { MaxRequests = m };
                    break;
                case "--events" when int.TryParse(value, NumberStyles.None, inv, out var e) && e is >= 1 and <= 100_000:
                    options = options with { StreamEvents = e };
                    break;
                case "--streams" when TryParseList(value, 20_000, out var streams):
                    options = options with { Streams = streams };
                    break;
                case "--interval-ms" when int.TryParse(value, NumberStyles.None, inv, out var ms) && ms is >= 10 and <= 10_000:
                    options = options with { Interval = TimeSpan.FromMilliseconds(ms) };
                    break;
                case "--window" when double.TryParse(value, NumberStyles.Float, inv, out var window) && window is > 0 and <= 600:
                    options = options with { Window = TimeSpan.FromSeconds(window) };
                    break;
                case "--scenarios" when TryParseNames(value, out var names):
                    options = options with { Scenarios = names };
                    break;
                case "--gateway-env" when value.IndexOf('=', StringComparison.Ordinal) is > 0 and var equals:
                    options = options with
                    {
                        GatewayEnvironment = new Dictionary<string, string>(options.GatewayEnvironment) { [value[..equals]] = value[(equals + 1)..] },
                    };
                    break;
                case "--gateway-dll":
                    options = options with { GatewayDll = value };
                    break;
                case "--output":
                    options = options with { Output = value };
                    break;
                default:
                    error = $"unknown option or bad value: {name} {value}";
                    return null;
            }
        }

        return options;
    }

    private static bool TryParseNames(string value, out IReadOnlyList<string> names)
    {
        var parts = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        names = [.. AllScenarios.Where(s => parts.Contains(s, StringComparer.OrdinalIgnoreCase))];
        return parts.Length > 0 && parts.All(p => AllScenarios.Contains(p, StringComparer.OrdinalIgnoreCase));
    }

    private static bool TryParseList(string value, int max, out IReadOnlyList<int> list)
    {
        var result = new List<int>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > max)
            {
                list = [];
                return false;
            }

            result.Add(n);
        }

        list = result;
        return result.Count > 0;
    }
}
