using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using CcxProxy.TestSupport;

namespace CcxProxy.Bench;

/// <summary>
/// gateway-bench: the same load against the fake upstream directly and through the gateway (a separate
/// process), in one run, so the machine's noise hits both sides alike. See bench/README.md.
/// </summary>
internal static class Program
{
    private const string AccessKey = "bench-key";
    private const string UpstreamKey = "bench-upstream-key";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    public static async Task<int> Main(string[] args)
    {
        if (args is [FloorRelay.Argument, _, ..])
        {
            return await FloorRelay.RunAsync(args);
        }

        var options = BenchOptions.Parse(args, out var error);
        if (options is null)
        {
            if (!string.IsNullOrEmpty(error))
            {
                Console.Error.WriteLine($"gateway-bench: {error}");
            }

            Console.Error.WriteLine(BenchOptions.Usage);
            return string.IsNullOrEmpty(error) ? 0 : 2;
        }

        // First Ctrl+C / SIGTERM: stop cleanly (the finally blocks kill the gateway). A second one
        // terminates at once; the ProcessExit hook in GatewayProcess still kills the gateway.
        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => Cancel(c, stop));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => Cancel(c, stop));

        try
        {
            return await RunAsync(options, stop.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("gateway-bench: stopped.");
            return 130;
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or IOException or HttpRequestException)
        {
            Console.Error.WriteLine($"gateway-bench: {ex.Message}");
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
        var root = FindRepositoryRoot();
        var dll = Path.GetFullPath(options.GatewayDll ?? Path.Combine(root, "src", "Proxy", "bin", "Release", "net10.0", "ccx-proxy.dll"));
        if (options.Build || !File.Exists(dll))
        {
            await BuildGatewayAsync(root, ct);
        }

        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"gateway not found at {dll}");
        }

        Scenario[] allScenarios =
        [
            new("small", "small-1", Stream: false, UpstreamIndex: 0),
            new("stream", "stream-1", Stream: true, UpstreamIndex: 1),
            // The same 200-event answer from an OpenAI upstream, converted by the gateway for the Anthropic client.
            new("convert", "convert-1", Stream: true, UpstreamIndex: 2, OpenAIUpstream: true),
            // The small and stream requests answered from the gateway's response cache (the hit path).
            new("cached", "small-1", Stream: false, UpstreamIndex: 0, Cached: true),
            new("cached-stream", "stream-1", Stream: true, UpstreamIndex: 1, Cached: true),
            // Trickling streams: thousands open at once, an event every --interval-ms (passthrough, then converted).
            new("trickle", "trickle-1", Stream: true, UpstreamIndex: 3),
            new("trickle-convert", "tconvert-1", Stream: true, UpstreamIndex: 4, OpenAIUpstream: true),
        ];
        var scenarios = allScenarios.Where(s => options.Scenarios.Contains(s.Name)).ToArray();
        // A trickling answer lasts beyond the ramp and the window, so every stream is still open when the window ends.
        var trickle = new FakeUpstreamOptions
        {
            TextEvents = (int)Math.Ceiling((options.Interval + options.Window + TimeSpan.FromSeconds(20)) / options.Interval),
            EventDelay = options.Interval,
        };
        FakeUpstreamOptions[] upstreamOptions = [new(), new() { TextEvents = options.StreamEvents }, new() { TextEvents = options.StreamEvents }, trickle, trickle];
        var upstreams = new FakeUpstream?[upstreamOptions.Length];
        var channels = Directory.CreateTempSubdirectory("ccx-bench-channels-");
        GatewayProcess? gateway = null;
        var cells = new List<Cell>();
        var trickles = new List<TrickleResult>();
        try
        {
            for (var i = 0; i < upstreams.Length; i++)
            {
                upstreams[i] = await FakeUpstream.StartAsync(0, upstreamOptions[i], ct);
            }

            WriteChannel(channels.FullName, "small.json", "anthropic", upstreams[0]!.BaseUrl.OriginalString, "small-*");
            WriteChannel(channels.FullName, "stream.json", "anthropic", upstreams[1]!.BaseUrl.OriginalString, "stream-*");
            // An openai channel's baseUrl includes the version segment; the gateway appends /chat/completions.
            WriteChannel(channels.FullName, "convert.json", "openai", upstreams[2]!.BaseUrl.OriginalString + "/v1", "convert-*");
            WriteChannel(channels.FullName, "trickle.json", "anthropic", upstreams[3]!.BaseUrl.OriginalString, "trickle-*");
            WriteChannel(channels.FullName, "tconvert.json", "openai", upstreams[4]!.BaseUrl.OriginalString + "/v1", "tconvert-*");
            // The response cache, only for requests that ask for it: the other scenarios never look it up.
            File.WriteAllText(Path.Combine(channels.FullName, "groups.json"),
                """{"groups": {"default": {"cache": {"ttlSeconds": 3600, "mode": "on-request"}}}}""");

            var environment = new Dictionary<string, string>
            {
                ["PROXY_ACCESS_KEY"] = AccessKey,
                ["Channels__Directory"] = channels.FullName,
                ["Channels__PollIntervalSeconds"] = "30",
                ["Redis__Configuration"] = "",
                ["Logging__LogLevel__Default"] = "Warning",
                ["ASPNETCORE_ENVIRONMENT"] = "Production",
            };
            foreach (var (name, value) in options.GatewayEnvironment)
            {
                environment[name] = value;
            }
            Console.WriteLine($"gateway-bench: starting {dll}");
            gateway = await GatewayProcess.StartAsync(dll, root, FreePort.Get(), environment, ReadyTimeout, ct);
            Console.WriteLine($"gateway-bench: gateway pid {gateway.Id} ready on {gateway.BaseUrl.OriginalString}; " +
                $"upstreams {upstreams[0]!.BaseUrl.OriginalString} (small), {upstreams[1]!.BaseUrl.OriginalString} (stream, {options.StreamEvents} events), " +
                $"{upstreams[2]!.BaseUrl.OriginalString} (convert, openai, {options.StreamEvents} chunks)");

            using var client = LoadRunner.CreateClient();
            var runner = new LoadRunner(client);
            var duration = TimeSpan.FromSeconds(options.Seconds);
            using var trickleClient = TrickleRunner.CreateClient();
            var trickleRunner = new TrickleRunner(trickleClient);
            foreach (var scenario in scenarios.Where(s => s.Name.StartsWith("trickle", StringComparison.Ordinal)))
            {
                foreach (var streams in options.Streams)
                {
                    foreach (var targetName in new[] { Targets.Direct, Targets.Floor, Targets.Gateway })
                    {
                        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                        var index = scenario.UpstreamIndex;
                        var target = targetName == Targets.Direct
                            ? new Target(targetName, upstreams[index]!.BaseUrl, UpstreamKey)
                            : new Target(targetName, gateway.BaseUrl, AccessKey);
                        if (targetName == Targets.Direct)
                        {
                            // A short warm-up (JIT, pools, the first connections) that is not measured.
                            await trickleRunner.RunAsync(scenario, target, Math.Min(200, streams), options.Interval, TimeSpan.FromSeconds(1), null, ct);
                            await Task.Delay(TimeSpan.FromSeconds(2), ct);
                        }
                        // The gateway's cell runs on a gateway of its own, started for it, so the resident set it
                        // grows by is this cell's and not what earlier cells left behind. The floor relay (the same
                        // framework parts with nothing of the gateway's) is measured the same way, for comparison.
                        GatewayProcess? fresh = null;
                        if (targetName != Targets.Direct)
                        {
                            fresh = targetName == Targets.Gateway
                                ? await GatewayProcess.StartAsync(dll, root, FreePort.Get(), environment, ReadyTimeout, ct)
                                : await GatewayProcess.StartAsync(typeof(Program).Assembly.Location, root, FreePort.Get(), environment, ReadyTimeout, ct,
                                    [FloorRelay.Argument, upstreams[index]!.BaseUrl.OriginalString]);
                            target = new Target(targetName, fresh.BaseUrl, targetName == Targets.Gateway ? AccessKey : UpstreamKey);
                            await trickleRunner.RunAsync(scenario, target, Math.Min(200, streams), options.Interval, TimeSpan.FromSeconds(1), null, ct);
                            await Task.Delay(TimeSpan.FromSeconds(2), ct);
                        }

                        TrickleResult result;
                        try
                        {
                            result = await trickleRunner.RunAsync(scenario, target, streams, options.Interval, options.Window, fresh, ct);
                        }
                        finally
                        {
                            if (fresh is not null)
                            {
                                await fresh.DisposeAsync();
                            }
                        }

                        trickles.Add(result);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {scenario.Name,-15} streams={streams,-5} {targetName,-7} events {result.Events,7} in {result.Window.TotalSeconds:0.0} s  " +
                            $"CPU/event {result.CpuPerEventMicroseconds?.ToString("0.0", CultureInfo.InvariantCulture) ?? "–",6} µs  " +
                            $"switches/event {result.SwitchesPerEvent?.ToString("0.00", CultureInfo.InvariantCulture) ?? "–",5}  " +
                            $"RSS/stream {result.RssPerStreamKib?.ToString("0.0", CultureInfo.InvariantCulture) ?? "–",6} KiB  " +
                            $"TTFE p99 {CellResult.Percentile(result.TtfeMs, 0.99),7:0.0} ms  open {result.OpenAtEnd}  failed {result.Failed}"));
                        // Let the cut streams' connections close on both sides before the next cell.
                        await Task.Delay(TimeSpan.FromSeconds(3), ct);
                    }
                }
            }

            foreach (var scenario in scenarios.Where(s => !s.Name.StartsWith("trickle", StringComparison.Ordinal)))
            {
                foreach (var concurrency in options.Concurrency)
                {
                    foreach (var targetName in new[] { Targets.Direct, Targets.Gateway })
                    {
                        // A fresh fake per cell: it records every request it gets, and a list growing by
                        // hundreds of thousands of entries would tilt later cells with GC work.
                        var index = scenario.UpstreamIndex;
                        var port = upstreams[index]!.Port;
                        await upstreams[index]!.DisposeAsync();
                        upstreams[index] = null;
                        upstreams[index] = await RestartAsync(port, upstreamOptions[index], ct);
                        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                        GC.WaitForPendingFinalizers();

                        var target = targetName == Targets.Direct
                            ? new Target(targetName, upstreams[index]!.BaseUrl, UpstreamKey)
                            : new Target(targetName, gateway.BaseUrl, AccessKey);
                        var warm = await runner.RunAsync(scenario, target, concurrency, TimeSpan.FromSeconds(30), options.Warmup, ct);
                        var cpuBefore = gateway.CpuTime();
                        var result = await runner.RunAsync(scenario, target, concurrency, duration, options.MaxRequests, ct);
                        var cpu = gateway.CpuTime() - cpuBefore;
                        cells.Add(new Cell(scenario, concurrency, targetName, result, targetName == Targets.Gateway ? cpu : null));
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"  {scenario.Name,-13} c={concurrency,-3} {targetName,-7} {result.RequestsPerSecond,8:0} req/s  p50 {CellResult.Percentile(result.LatencyMs, 0.5),7:0.00} ms  " +
                            $"p99 {CellResult.Percentile(result.LatencyMs, 0.99),7:0.00} ms  errors {result.Errors} (warm-up errors {warm.Errors})"));
                    }
                }
            }

            var report = Report.Render(options, cells, trickles, gateway.ProcStatusBytes("VmHWM"), gateway.ProcStatusBytes("VmRSS"), started);
            Console.WriteLine();
            Console.WriteLine(report);
            var output = Path.GetFullPath(options.Output ?? Path.Combine(root, "bench", "results", "latest.md"));
            Directory.CreateDirectory(Path.GetDirectoryName(output)!);
            await File.WriteAllTextAsync(output, report, ct);
            Console.WriteLine($"gateway-bench: wrote {output}");
            return cells.Any(c => c.Result.Errors > 0 || c.Result.Ok == 0) || trickles.Any(t => t.Failed > 0 || t.OpenAtEnd < t.Streams) ? 3 : 0;
        }
        finally
        {
            if (gateway is not null)
            {
                await gateway.DisposeAsync();
            }

            foreach (var upstream in upstreams)
            {
                if (upstream is not null)
                {
                    await upstream.DisposeAsync();
                }
            }

            try
            {
                channels.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temp dir left behind is harmless.
            }
        }
    }

    private static void WriteChannel(string directory, string file, string type, string baseUrl, string models)
        => File.WriteAllText(Path.Combine(directory, file), $$"""
            {
              "type": "{{type}}",
              "baseUrl": "{{baseUrl}}",
              "apiKeys": ["{{UpstreamKey}}"],
              "models": ["{{models}}"]
            }
            """);

    /// <summary>Starts a fake on the port the gateway's channel file names; the old one just released it.</summary>
    private static async Task<FakeUpstream> RestartAsync(int port, FakeUpstreamOptions options, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await FakeUpstream.StartAsync(port, options, ct);
            }
            catch (IOException) when (attempt < 20)
            {
                // Address still in use for a moment.
                await Task.Delay(250, ct);
            }
        }
    }

    private static async Task BuildGatewayAsync(string root, CancellationToken ct)
    {
        Console.WriteLine("gateway-bench: dotnet build -c Release src/Proxy");
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = root, UseShellExecute = false };
        foreach (var arg in new[] { "build", "-c", "Release", "src/Proxy", "-nologo", "-v", "quiet" })
        {
            info.ArgumentList.Add(arg);
        }

        using var build = Process.Start(info) ?? throw new InvalidOperationException("could not start dotnet build");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(BuildTimeout);
        try
        {
            await build.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            build.Kill(entireProcessTree: true);
            await build.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException($"dotnet build did not finish within {BuildTimeout.TotalMinutes:0} minutes");
        }

        if (build.ExitCode != 0)
        {
            throw new InvalidOperationException($"dotnet build -c Release src/Proxy failed with exit code {build.ExitCode}");
        }
    }

    /// <summary>The directory holding ccx-proxy.sln, above the program's own binaries or the current directory.</summary>
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

        throw new InvalidOperationException("cannot find ccx-proxy.sln above the program or the current directory");
    }
}
