using System.Diagnostics;
using System.Diagnostics.Metrics;
using CcxProxy.Hosting;
using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace CcxProxy.Bench.Limits;

/// <summary>One store × concurrency cell of limit decisions.</summary>
internal sealed record DecisionCell(string Store, int Concurrency, long Decisions, long Refused, TimeSpan Elapsed, Samples Latency, long RoundTrips, long RedisCalls, long Fallbacks)
{
    public double PerSecond => Decisions / Elapsed.TotalSeconds;
}

/// <summary>
/// Part 1: <see cref="ILimitStore"/> alone, as <c>AddCcxProxy</c> registers it (resolved from DI: the in-memory store
/// with no <c>Redis:Configuration</c>, the fail-open Redis store with it). One decision = <c>AcquireAsync</c> then
/// <c>ReleaseAsync</c> for a key scope and a group scope, every limit set (requests, input and output tokens per minute,
/// concurrency, a monthly quota) and high enough never to refuse, so every rule of both scopes is evaluated.
/// </summary>
internal static class LimitDecisions
{
    private const long EstimatedInput = 120;
    private const long ActualInput = 100;
    private const long ActualOutput = 20;

    private static readonly CallerLimits High = new()
    {
        RequestsPerMinute = 1_000_000_000,
        InputTokensPerMinute = 1_000_000_000_000,
        OutputTokensPerMinute = 1_000_000_000_000,
        Concurrency = 1_000_000,
        Quota = new TokenQuota(1_000_000_000_000_000, QuotaPeriod.Month),
    };

    /// <summary>Builds the store the gateway would use, with or without Redis.</summary>
    public static ServiceProvider BuildServices(string? redisConfiguration, string contentRoot)
    {
        var settings = new Dictionary<string, string?> { ["Channels:Directory"] = contentRoot };
        if (redisConfiguration is not null)
        {
            settings["Redis:Configuration"] = redisConfiguration;
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddCcxProxy(configuration, contentRoot);
        return services.BuildServiceProvider();
    }

    public static async Task<List<DecisionCell>> RunAsync(RedisServer redis, BenchOptions options, string contentRoot, CancellationToken ct)
    {
        var cells = new List<DecisionCell>();
        using var fallbacks = new FallbackCounter();
        foreach (var (name, redisConfiguration) in new[] { ("in-memory", (string?)null), ("Redis", redis.ConnectionString) })
        {
            await using var services = BuildServices(redisConfiguration, contentRoot);
            var store = services.GetRequiredService<ILimitStore>();
            StackExchange.Redis.ConnectionMultiplexer? multiplexer = null;
            if (redisConfiguration is not null)
            {
                var connection = services.GetRequiredService<RedisConnection>();
                multiplexer = await connection.MultiplexerAsync.WaitAsync(TimeSpan.FromSeconds(10), ct);
                if (multiplexer is not { IsConnected: true })
                {
                    throw new InvalidOperationException("could not connect to the local redis-server");
                }
            }

            Console.WriteLine($"limits-bench: limit store for {name}: {store.GetType().Name}");
            foreach (var concurrency in options.Concurrency)
            {
                // Fresh scope names per cell: no cell starts from another's counters.
                var scopes = new[]
                {
                    new LimitScope($"key:bench{name[0]}{concurrency}", High),
                    new LimitScope($"group:bench-{name[0]}{concurrency}", High),
                };
                await RunCellAsync(store, scopes, concurrency, TimeSpan.FromSeconds(options.Warmup), ct);
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                var callsBefore = await RedisCommandStats.TotalCallsAsync(redis);
                var tripsBefore = RedisCommandStats.RoundTrips(multiplexer);
                var fallbacksBefore = fallbacks.Count;
                var (decisions, refused, elapsed, latency) = await RunCellAsync(store, scopes, concurrency, TimeSpan.FromSeconds(options.Seconds), ct);
                var trips = RedisCommandStats.RoundTrips(multiplexer) - tripsBefore;
                var calls = await RedisCommandStats.TotalCallsAsync(redis) - callsBefore;
                var cell = new DecisionCell(name, concurrency, decisions, refused, elapsed, latency, trips, calls, fallbacks.Count - fallbacksBefore);
                cells.Add(cell);
                Console.WriteLine(FormattableString.Invariant(
                    $"  {name,-9} c={concurrency,-3} {cell.PerSecond,10:N0} decisions/s  p50 {latency.Percentile(0.5) * 1000,7:0.0} µs  p99 {latency.Percentile(0.99) * 1000,8:0.0} µs  refused {refused}  client ops/decision {(double)trips / Math.Max(1, decisions):0.00}  Redis cmds/decision {(double)calls / Math.Max(1, decisions):0.0}  fallbacks {cell.Fallbacks}"));
            }
        }

        return cells;
    }

    private static async Task<(long Decisions, long Refused, TimeSpan Elapsed, Samples Latency)> RunCellAsync(
        ILimitStore store, LimitScope[] scopes, int concurrency, TimeSpan duration, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var start = Stopwatch.GetTimestamp();
        var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var samples = new Samples();
            long refused = 0;
            var lease = 0;
            while (Stopwatch.GetTimestamp() < deadline)
            {
                ct.ThrowIfCancellationRequested();
                var leaseId = $"bench-{worker}-{lease++}";
                var t0 = Stopwatch.GetTimestamp();
                var decision = await store.AcquireAsync(scopes, leaseId, EstimatedInput, ct);
                if (decision.Admitted)
                {
                    await store.ReleaseAsync(scopes, leaseId, EstimatedInput, ActualInput, ActualOutput, ct);
                }
                else
                {
                    refused++;
                }

                samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);

                // The in-memory store completes synchronously: yield now and then so 64 workers share the pool's threads
                // instead of each holding one until the deadline.
                if ((lease & 63) == 0)
                {
                    await Task.Yield();
                }
            }

            return (samples, refused);
        }, ct)).ToArray();
        var results = await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(start);
        var all = new Samples();
        foreach (var (samples, _) in results)
        {
            all.AddRange(samples);
        }

        return (all.Count, results.Sum(r => r.refused), elapsed, all);
    }
}

/// <summary>Counts <c>ccx.limits.redis_fallbacks</c>: calls the fail-open store answered in memory (should stay 0 here).</summary>
internal sealed class FallbackCounter : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _count;

    public FallbackCounter()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "CcxProxy.Limits" && instrument.Name == "ccx.limits.redis_fallbacks")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _count, value));
        _listener.Start();
    }

    public long Count => Interlocked.Read(ref _count);

    public void Dispose() => _listener.Dispose();
}
