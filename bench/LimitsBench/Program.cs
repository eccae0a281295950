using System.Diagnostics;
using System.Runtime.InteropServices;
using CcxProxy.TestSupport;

namespace CcxProxy.Bench.Limits;

/// <summary>
/// limits-bench: what the key lookup and the limit check add to a request, and limit decisions per second, in
/// memory and against a throw-away local redis-server, in one run. See bench/README.md.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var options = BenchOptions.Parse(args, out var error);
        if (options is null)
        {
            if (error.Length > 0)
            {
                Console.Error.WriteLine($"limits-bench: {error}");
            }

            Console.Error.WriteLine(BenchOptions.Usage);
            return error.Length > 0 ? 2 : 0;
        }

        // Ctrl+C / SIGTERM: stop cleanly; the finally blocks (and RedisServer's ProcessExit hook) kill redis-server.
        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Cancel(c, stop));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Cancel(c, stop));
        try
        {
            return await RunAsync(options, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("limits-bench: stopped.");
            return 130;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException)
        {
            Console.Error.WriteLine($"limits-bench: {ex.Message}");
            return 1;
        }
    }

    private static void Cancel(PosixSignalContext context, CancellationTokenSource stop)
    {
        if (!stop.IsCancellationRequested)
        {
            context.Cancel = true;
            stop.Cancel();
        }
    }

    private static async Task<int> RunAsync(BenchOptions options, CancellationToken ct)
    {
        var started = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        await using var redis = await RedisServer.StartAsync(ct);
        var version = (await redis.CommandAsync("INFO", "server")).Split('\n')
            .FirstOrDefault(l => l.StartsWith("redis_version:", StringComparison.Ordinal))?["redis_version:".Length..].Trim() ?? "?";
        Console.WriteLine($"limits-bench: redis-server {version} on 127.0.0.1:{redis.Port}");

        var contentRoot = Directory.CreateTempSubdirectory("ccx-limits-bench-root-").FullName;
        List<DecisionCell> decisions;
        try
        {
            decisions = await LimitDecisions.RunAsync(redis, options, contentRoot, ct);
        }
        finally
        {
            Directory.Delete(contentRoot, recursive: true);
        }

        var gateway = await GatewayLatency.RunAsync(redis, options, ct);
        var report = Report.Render(options, started, clock.Elapsed, version, decisions, gateway);
        Console.WriteLine();
        Console.WriteLine(report);
        var path = Path.GetFullPath(options.Output ?? Path.Combine(FindRepositoryRoot(), "bench", "results", "limits.md"));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, report, CancellationToken.None);
        Console.WriteLine($"limits-bench: wrote {path}");

        var failed = decisions.Any(d => d.Refused > 0 || d.Fallbacks > 0 || d.Latency.Errors > 0)
            || gateway.Fallbacks > 0
            || gateway.Lookups.Concat(gateway.Requests).Any(c => c.Latency.Errors > 0);
        return failed ? 3 : 0;
    }

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ccx-proxy.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
