using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Access;

/// <summary>
/// Redis killed and restarted, and Redis frozen (SIGSTOP), under a steady load through a gateway with
/// group limits and usage accounting: no request fails or hangs because of it, and the shared counters
/// are used again once Redis is back.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(90_000)]
public sealed class RedisOutageTests
{
    private static readonly TimeSpan s_requestBound = TimeSpan.FromSeconds(5);

    private static string Body => """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private static async Task<(TestGateway Gateway, WireMockServer Upstream)> StartAsync(RedisServer redis)
    {
        var upstream = WireMockUpstream.StartProvider();
        var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string>
            {
                ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()),
                ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 100000, "concurrency": 1000}}}}""",
            },
            new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString });
        return (gateway, upstream);
    }

    /// <summary>Sends requests from 4 workers until <paramref name="stop"/>; records each status and duration.</summary>
    private static async Task<List<(HttpStatusCode Status, TimeSpan Took)>> LoadAsync(TestGateway gateway, CancellationToken stop)
    {
        var results = new ConcurrentBag<(HttpStatusCode, TimeSpan)>();
        var workers = Enumerable.Range(0, 4).Select(async _ =>
        {
            while (!stop.IsCancellationRequested && results.Count < 5000)
            {
                var clock = Stopwatch.StartNew();
                var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
                results.Add((response.StatusCode, clock.Elapsed));
            }
        });
        await Task.WhenAll(workers);
        return [.. results];
    }

    private static async Task<bool> RedisHoldsLimitCountersAsync(RedisServer redis) =>
        (await redis.CommandAsync("KEYS", "ccx:{group:default}:*")).Length > 0;

    [Test]
    public async Task RedisKilledAndRestarted_NoRequestFailsOrHangs_CountersResume()
    {
        await using var redis = await RedisServer.StartAsync();
        var (gateway, upstream) = await StartAsync(redis);
        await using var _ = gateway;
        using var __ = upstream;
        Assert.That((await gateway.SendAsync(gateway.Post("/v1/messages", Body))).Response.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var stop = new CancellationTokenSource();
        var load = LoadAsync(gateway, stop.Token);
        await Task.Delay(500);
        await redis.KillAsync();
        await Task.Delay(1500);
        await redis.RestartAsync();
        await Task.Delay(2500);
        await stop.CancelAsync();
        var results = await load.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(results, Is.Not.Empty);
        Assert.That(results.Where(r => r.Status != HttpStatusCode.OK).Select(r => r.Status), Is.Empty, "no request fails because Redis went away");
        Assert.That(results.Max(r => r.Took), Is.LessThan(s_requestBound), "no request hangs");

        // Back on Redis: the restarted (empty) server receives the shared counters again.
        var clock = Stopwatch.StartNew();
        while (!await RedisHoldsLimitCountersAsync(redis) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            await Task.Delay(200);
        }

        Assert.That(await RedisHoldsLimitCountersAsync(redis), Is.True);
        Assert.That(gateway.Logs.All, Does.Not.Contain(FakeKeys.Upstream));
    }

    [Test]
    public async Task RedisFrozen_NoRequestFailsOrHangs_RecoversAfterThaw()
    {
        await using var redis = await RedisServer.StartAsync();
        var (gateway, upstream) = await StartAsync(redis);
        await using var _ = gateway;
        using var __ = upstream;
        Assert.That((await gateway.SendAsync(gateway.Post("/v1/messages", Body))).Response.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var stop = new CancellationTokenSource();
        var load = LoadAsync(gateway, stop.Token);
        await Task.Delay(500);
        redis.Freeze();
        try
        {
            await Task.Delay(2000);
        }
        finally
        {
            redis.Thaw();
        }

        await Task.Delay(2000);
        await stop.CancelAsync();
        var results = await load.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(results.Where(r => r.Status != HttpStatusCode.OK).Select(r => r.Status), Is.Empty);
        Assert.That(results.Max(r => r.Took), Is.LessThan(s_requestBound));
        await redis.CommandAsync("FLUSHALL");
        var clock = Stopwatch.StartNew();
        while (!await RedisHoldsLimitCountersAsync(redis) && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            await Task.Delay(200);
        }

        Assert.That(await RedisHoldsLimitCountersAsync(redis), Is.True, "the shared counters are used again after the thaw");
    }

    [Test]
    public async Task FailClosed_RedisDown_LimitedRequestsGet503Quickly_ServedAgainOnceBack()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string>
            {
                ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()),
                ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 100000}}}}""",
            },
            new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString, ["Limits:OnRedisFailure"] = "closed" });
        var clock = Stopwatch.StartNew();
        HttpStatusCode status = default;
        while (status != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            status = (await gateway.SendAsync(gateway.Post("/v1/messages", Body))).Response.StatusCode;
        }

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        var served = upstream.Received().Count;

        await redis.KillAsync();
        var took = Stopwatch.StartNew();
        var (refused, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(took.Elapsed, Is.LessThan(s_requestBound));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("fails closed"));
        Assert.That(refused.Headers.RetryAfter, Is.Not.Null);
        Assert.That(upstream.Received(), Has.Count.EqualTo(served), "nothing was forwarded unchecked");

        await redis.RestartAsync();
        clock.Restart();
        do
        {
            status = (await gateway.SendAsync(gateway.Post("/v1/messages", Body))).Response.StatusCode;
            await Task.Delay(100);
        }
        while (status != HttpStatusCode.OK && clock.Elapsed < TimeSpan.FromSeconds(15));

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
    }
}
