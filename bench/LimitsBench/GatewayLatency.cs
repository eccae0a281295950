using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using CcxProxy.Access;
using CcxProxy.Hosting;
using CcxProxy.Keys;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace CcxProxy.Bench.Limits;

/// <summary>A way of presenting a key: its name, what it isolates, and where its keys come from.</summary>
internal sealed record KeyCase(string Name, string Description, Func<string> NextKey);

/// <summary>One key case's latencies over every round, and the Redis commands it caused.</summary>
internal sealed class LatencyCell(KeyCase keyCase)
{
    public KeyCase Case { get; } = keyCase;

    public Samples Latency { get; } = new();

    public long RoundTrips { get; set; }

    public long RedisCalls { get; set; }

    public double RoundTripsPerRequest => Latency.Count > 0 ? (double)RoundTrips / Latency.Count : double.NaN;

    public double RedisCallsPerRequest => Latency.Count > 0 ? (double)RedisCalls / Latency.Count : double.NaN;
}

/// <summary>What part 2 measured.</summary>
internal sealed record GatewayResults(List<LatencyCell> Lookups, List<LatencyCell> Requests, long Fallbacks, long KeysCreated);

/// <summary>
/// Part 2: the gateway in this process (<see cref="GatewayApp.Build"/>, Redis configured) in front of a fake upstream.
/// <c>KeyDirectory</c> is internal, so the key lookup is measured through the public <see cref="CallerAuthentication"/>
/// resolved from the gateway's own services (the same singleton the requests use: header read, throttle check,
/// lookup), and end to end as small requests whose only difference is the key presented and its group's limits.
/// </summary>
internal static class GatewayLatency
{
    public const string EnvironmentKey = "ccx-bench-environment-key-4d1c7e";
    private const string UpstreamKey = "bench-upstream-key";
    private const string FreeGroup = "bench-free";
    private const string LimitedGroup = "bench-limited";
    private const string Model = "small-1";

    private static readonly byte[] Body = Encoding.UTF8.GetBytes($$"""{"model":"{{Model}}","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}""");

    private static readonly CallerLimits HighKeyLimits = new()
    {
        RequestsPerMinute = 1_000_000_000,
        InputTokensPerMinute = 1_000_000_000_000,
        OutputTokensPerMinute = 1_000_000_000_000,
        Concurrency = 1_000_000,
        Quota = new TokenQuota(1_000_000_000_000_000, QuotaPeriod.Month),
    };

    public static async Task<GatewayResults> RunAsync(RedisServer redis, BenchOptions options, CancellationToken ct)
    {
        using var fallbacks = new FallbackCounter();
        await using var upstream = await FakeUpstream.StartAsync(ct);
        var directory = Directory.CreateTempSubdirectory("ccx-limits-bench-").FullName;
        WebApplication? app = null;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "bench.json"), $$"""
                {
                  "type": "anthropic",
                  "baseUrl": "{{upstream.BaseUrl.OriginalString}}",
                  "apiKeys": ["{{UpstreamKey}}"],
                  "models": ["small-*"],
                  "groups": ["default", "{{FreeGroup}}", "{{LimitedGroup}}"]
                }
                """, ct);
            // Limits high enough never to refuse: every rule is evaluated, none trips.
            await File.WriteAllTextAsync(Path.Combine(directory, "groups.json"), $$"""
                {
                  "groups": {
                    "{{FreeGroup}}": {},
                    "{{LimitedGroup}}": {
                      "limits": {
                        "requestsPerMinute": 1000000000,
                        "inputTokensPerMinute": 1000000000000,
                        "outputTokensPerMinute": 1000000000000,
                        "concurrency": 1000000,
                        "quota": { "tokens": 1000000000000000, "period": "month" }
                      }
                    }
                  }
                }
                """, ct);

            app = GatewayApp.Build(["--urls", "http://127.0.0.1:0"], builder =>
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["PROXY_ACCESS_KEY"] = EnvironmentKey,
                    ["Channels:Directory"] = directory,
                    ["Redis:Configuration"] = redis.ConnectionString,
                });
                builder.Logging.ClearProviders();
                builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
            });
            await app.StartAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var multiplexer = await app.Services.GetRequiredService<RedisConnection>().MultiplexerAsync.WaitAsync(TimeSpan.FromSeconds(10), ct);
            if (multiplexer is not { IsConnected: true })
            {
                throw new InvalidOperationException("the gateway could not connect to the local redis-server");
            }

            using var handler = new SocketsHttpHandler
            {
                UseProxy = false,
                AutomaticDecompression = DecompressionMethods.None,
                PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            };
            using var client = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
            await WaitReadyAsync(client, ct);

            // Keys: one per cached case, and one fresh key per uncached request (its first lookup is a store read).
            var store = app.Services.GetRequiredService<IKeyStore>();
            var rounds = options.Rounds;
            var uncachedPerCase = rounds * options.Requests + options.WarmupRequests;
            var freeKey = await CreateKeysAsync(store, 1, FreeGroup, CallerLimits.None, ct);
            var groupKey = await CreateKeysAsync(store, 1, LimitedGroup, CallerLimits.None, ct);
            var bothKey = await CreateKeysAsync(store, 1, LimitedGroup, HighKeyLimits, ct);
            var lookupCached = await CreateKeysAsync(store, 1, FreeGroup, CallerLimits.None, ct);
            var lookupUncached = await CreateKeysAsync(store, rounds * options.Lookups / 4 + options.WarmupRequests, FreeGroup, CallerLimits.None, ct);
            var freshFree = await CreateKeysAsync(store, uncachedPerCase, FreeGroup, CallerLimits.None, ct);
            var freshBoth = await CreateKeysAsync(store, uncachedPerCase, LimitedGroup, HighKeyLimits, ct);
            var created = 4 + lookupUncached.Count + freshFree.Count + freshBoth.Count;
            Console.WriteLine($"limits-bench: gateway at {address}, {created} keys created in Redis");

            // The lookup alone, through CallerAuthentication (what every request runs first).
            var authentication = app.Services.GetRequiredService<CallerAuthentication>();
            var lookupCases = new List<(KeyCase Case, int PerRound)>
            {
                (new KeyCase("PROXY_ACCESS_KEY", "no store read", () => EnvironmentKey), options.Lookups),
                (new KeyCase("stored key, cached", "in-process cache hit", () => lookupCached[0]), options.Lookups),
                (new KeyCase("stored key, uncached", "first use: one Redis read", Take(lookupUncached)), options.Lookups / 4),
            };
            var lookups = lookupCases.Select(c => new LatencyCell(c.Case)).ToList();
            foreach (var (keyCase, _) in lookupCases)
            {
                await LookupAsync(authentication, keyCase, Math.Min(options.WarmupRequests, 200), new Samples());
            }

            // Request cases; each "uncached" request presents a key never seen before.
            var requestCases = new List<KeyCase>
            {
                new("PROXY_ACCESS_KEY", "baseline: no store read, no limits", () => EnvironmentKey),
                new("stored, cached, no limits", $"group `{FreeGroup}` (no limits)", () => freeKey[0]),
                new("stored, cached, group limits", $"group `{LimitedGroup}`: 1 scope", () => groupKey[0]),
                new("stored, cached, key + group limits", "key limits too: 2 scopes", () => bothKey[0]),
                new("stored, uncached, no limits", "fresh key per request, no limits", Take(freshFree)),
                new("stored, uncached, key + group limits", "fresh key per request, 2 scopes", Take(freshBoth)),
            };
            var requests = requestCases.Select(c => new LatencyCell(c)).ToList();
            foreach (var keyCase in requestCases)
            {
                await SendAsync(client, keyCase, options.WarmupRequests, new Samples(), ct);
            }

            var fallbacksBefore = fallbacks.Count;
            for (var round = 1; round <= rounds; round++)
            {
                for (var i = 0; i < lookups.Count; i++)
                {
                    ct.ThrowIfCancellationRequested();
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                    var before = await RedisCommandStats.TotalCallsAsync(redis);
                    var tripsBefore = RedisCommandStats.RoundTrips(multiplexer);
                    await LookupAsync(authentication, lookups[i].Case, lookupCases[i].PerRound, lookups[i].Latency);
                    lookups[i].RoundTrips += RedisCommandStats.RoundTrips(multiplexer) - tripsBefore;
                    lookups[i].RedisCalls += await RedisCommandStats.TotalCallsAsync(redis) - before;
                }

                foreach (var cell in requests)
                {
                    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                    var before = await RedisCommandStats.TotalCallsAsync(redis);
                    var tripsBefore = RedisCommandStats.RoundTrips(multiplexer);
                    var samples = new Samples();
                    await SendAsync(client, cell.Case, options.Requests, samples, ct);
                    cell.Latency.AddRange(samples);
                    cell.RoundTrips += RedisCommandStats.RoundTrips(multiplexer) - tripsBefore;
                    cell.RedisCalls += await RedisCommandStats.TotalCallsAsync(redis) - before;
                    Console.WriteLine(FormattableString.Invariant(
                        $"  round {round}  {cell.Case.Name,-38} p50 {samples.Percentile(0.5),6:0.000} ms  p99 {samples.Percentile(0.99),6:0.000} ms  errors {samples.Errors}"));
                }
            }

            return new GatewayResults(lookups, requests, fallbacks.Count - fallbacksBefore, created);
        }
        finally
        {
            if (app is not null)
            {
                await app.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
                await app.DisposeAsync();
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A temp directory left behind is harmless.
            }
        }
    }

    private static Func<string> Take(List<string> keys)
    {
        var next = -1;
        return () =>
        {
            var i = Interlocked.Increment(ref next);
            return i < keys.Count ? keys[i] : throw new InvalidOperationException("ran out of fresh keys");
        };
    }

    /// <summary>Stores <paramref name="count"/> new keys; the keys (never stored) are returned, their SHA-256 is what Redis holds.</summary>
    private static async Task<List<string>> CreateKeysAsync(IKeyStore store, int count, string group, CallerLimits limits, CancellationToken ct)
    {
        var keys = Enumerable.Range(0, count).Select(_ => "ccx-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20))).ToList();
        var now = DateTimeOffset.UtcNow;
        foreach (var batch in keys.Chunk(64))
        {
            var created = await Task.WhenAll(batch.Select(key => store.CreateAsync(new KeyRecord
            {
                Hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))),
                Prefix = key[..8],
                Group = group,
                Label = "limits-bench",
                CreatedAt = now,
                Limits = limits,
            }, ct)));
            if (created.Any(ok => !ok))
            {
                throw new InvalidOperationException("a benchmark key could not be created");
            }
        }

        return keys;
    }

    private static async Task LookupAsync(CallerAuthentication authentication, KeyCase keyCase, int count, Samples samples)
    {
        for (var i = 0; i < count; i++)
        {
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = IPAddress.Loopback;
            context.Request.Headers["x-api-key"] = keyCase.NextKey();
            var t0 = Stopwatch.GetTimestamp();
            var caller = await authentication.AuthenticateAsync(context);
            var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            if (caller.Failed(out var refused, out _))
            {
                samples.Error($"{keyCase.Name}: refused with {refused.Status}");
            }
            else
            {
                samples.Add(ms);
            }
        }
    }

    private static async Task SendAsync(HttpClient client, KeyCase keyCase, int count, Samples samples, CancellationToken ct)
    {
        for (var i = 0; i < count; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
            {
                Version = HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent(Body),
            };
            request.Content.Headers.ContentType = new("application/json");
            request.Headers.Add("x-api-key", keyCase.NextKey());
            request.Headers.Add("anthropic-version", "2023-06-01");
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, ct);
                var text = await response.Content.ReadAsStringAsync(ct);
                var ms = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    samples.Add(ms);
                }
                else
                {
                    samples.Error($"{keyCase.Name}: {(int)response.StatusCode} {(text.Length > 200 ? text[..200] : text)}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is TaskCanceledException && !ct.IsCancellationRequested))
            {
                samples.Error($"{keyCase.Name}: {ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    private static async Task WaitReadyAsync(HttpClient client, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await client.GetAsync("/readyz", ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not yet.
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException("the gateway did not become ready within 30 s");
            }

            await Task.Delay(50, ct);
        }
    }
}
