using System.Globalization;
using CcxProxy.TestSupport;

namespace CcxProxy.Bench.Limits;

/// <summary>Latencies of one cell, in milliseconds, and what went wrong.</summary>
internal sealed class Samples
{
    private readonly List<double> _ms = [];
    private double[]? _sorted;

    public int Count => _ms.Count;

    public int Errors { get; private set; }

    public string? FirstError { get; private set; }

    public void Add(double ms)
    {
        _ms.Add(ms);
        _sorted = null;
    }

    public void AddRange(Samples other)
    {
        _ms.AddRange(other._ms);
        _sorted = null;
        Errors += other.Errors;
        FirstError ??= other.FirstError;
    }

    public void Error(string message)
    {
        Errors++;
        FirstError ??= message;
    }

    /// <summary>Nearest-rank percentile (as GatewayBench); NaN when empty.</summary>
    public double Percentile(double p)
    {
        _sorted ??= [.. _ms.Order()];
        if (_sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p * _sorted.Length);
        return _sorted[Math.Clamp(rank - 1, 0, _sorted.Length - 1)];
    }
}

/// <summary>
/// What a cell asked of Redis: operations as the client counts them (sent by the gateway's
/// multiplexer) and commands as Redis counts them (<c>INFO commandstats</c>, which includes the commands a Lua script runs).
/// </summary>
internal static class RedisCommandStats
{
    /// <summary>Operations the multiplexer has sent so far (each operation of a pipelined batch counts) (0 without one).</summary>
    public static long RoundTrips(StackExchange.Redis.ConnectionMultiplexer? multiplexer) =>
        multiplexer?.GetCounters().Interactive.OperationCount ?? 0;

    /// <summary>Total calls of every command but INFO itself (the probe), commands run inside scripts included.</summary>
    public static async Task<long> TotalCallsAsync(RedisServer redis)
    {
        var text = await redis.CommandAsync("INFO", "commandstats");
        long total = 0;
        foreach (var line in text.Split('\n'))
        {
            // cmdstat_evalsha:calls=123,usec=456,...
            if (!line.StartsWith("cmdstat_", StringComparison.Ordinal) || line.StartsWith("cmdstat_info:", StringComparison.Ordinal))
            {
                continue;
            }

            var start = line.IndexOf("calls=", StringComparison.Ordinal) + "calls=".Length;
            var end = line.IndexOf(',', start);
            total += long.Parse(line.AsSpan(start, (end < 0 ? line.Length : end) - start), CultureInfo.InvariantCulture);
        }

        return total;
    }
}
