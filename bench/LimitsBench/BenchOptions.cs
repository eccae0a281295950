using System.Globalization;

namespace CcxProxy.Bench.Limits;

/// <summary>Command-line options; every loop is bounded by them.</summary>
internal sealed record BenchOptions
{
    public const string Usage = """
        usage: dotnet run -c Release --project bench/LimitsBench [-- options]
          --seconds N        measured seconds per limit-decision cell (store × concurrency), default 5
          --warmup N         warm-up seconds before each limit-decision cell, default 1
          --concurrency L    concurrent callers of the limit store, comma-separated, default 1,64
          --requests N       gateway requests per key case per round, default 1500
          --lookups N        CallerAuthentication lookups per round (cached cases; uncached: N/4), default 20000
          --rounds N         gateway rounds, run round-robin across key cases, default 3
          --output PATH      Markdown report, default bench/results/limits.md
        """;

    public double Seconds { get; init; } = 5;

    public double Warmup { get; init; } = 1;

    public IReadOnlyList<int> Concurrency { get; init; } = [1, 64];

    public int Requests { get; init; } = 1500;

    public int WarmupRequests { get; init; } = 200;

    public int Lookups { get; init; } = 20_000;

    public int Rounds { get; init; } = 3;

    public string? Output { get; init; }

    /// <summary>The options, or null with <paramref name="error"/> set (empty for --help).</summary>
    public static BenchOptions? Parse(string[] args, out string error)
    {
        var inv = CultureInfo.InvariantCulture;
        var options = new BenchOptions();
        error = "";
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-h" or "--help")
            {
                return null;
            }

            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : null;
            double d;
            int n;
            switch (name)
            {
                case "--seconds" when double.TryParse(value, NumberStyles.Float, inv, out d) && d is > 0 and <= 600:
                    options = options with { Seconds = d };
                    break;
                case "--warmup" when double.TryParse(value, NumberStyles.Float, inv, out d) && d is >= 0 and <= 60:
                    options = options with { Warmup = d };
                    break;
                case "--concurrency" when value is not null && value.Split(',').All(v => int.TryParse(v, NumberStyles.None, inv, out n) && n is >= 1 and <= 1024):
                    options = options with { Concurrency = [.. value.Split(',').Select(v => int.Parse(v, inv))] };
                    break;
                case "--requests" when int.TryParse(value, NumberStyles.None, inv, out n) && n is >= 1 and <= 100_000:
                    options = options with { Requests = n };
                    break;
                case "--lookups" when int.TryParse(value, NumberStyles.None, inv, out n) && n is >= 4 and <= 1_000_000:
                    options = options with { Lookups = n };
                    break;
                case "--rounds" when int.TryParse(value, NumberStyles.None, inv, out n) && n is >= 1 and <= 20:
                    options = options with { Rounds = n };
                    break;
                case "--output" when value is not null:
                    options = options with { Output = value };
                    break;
                default:
                    error = $"unknown option or bad value: {name} {value}";
                    return null;
            }
        }

        return options;
    }
}
