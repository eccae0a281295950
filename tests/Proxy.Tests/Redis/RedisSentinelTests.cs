using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using CcxProxy.Tests.Telemetry;

namespace CcxProxy.Tests.Redis;

/// <summary>
/// Redis Sentinel for real: a master, a replica and three <c>redis-server --sentinel</c> processes on loopback
/// ports. The gateway is given only the sentinels and the service name; the master is killed while requests
/// keep coming. No request fails (limits fail open while Redis is away, as documented), the sentinels promote
/// the replica, the gateway follows it, and the shared counters continue there from what was replicated.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(120_000)]
public sealed class RedisSentinelTests
{
    private const string Service = "ccxmaster";
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private static string UsageKey() => $"ccx:{{usage:group:default}}:{DateTimeOffset.UtcNow.UtcDateTime.ToString("yyyyMMddHH", CultureInfo.InvariantCulture)}";

    private static async Task<long> UsageRequestsAsync(RedisServer redis)
    {
        var reply = await redis.CommandAsync("HGET", UsageKey(), "requests");
        return long.TryParse(reply, CultureInfo.InvariantCulture, out var count) ? count : 0;
    }

    /// <summary>
    /// One poll of a server: its reply, or "" when it did not answer in time. A sentinel busy with the failover (or a
    /// loaded CI machine) may miss one poll; the next one asks again, within the poll's own deadline.
    /// </summary>
    private static string Ask(RedisServer server, params string[] args)
    {
        try
        {
            return server.CommandAsync(args).GetAwaiter().GetResult();
        }
        catch (TimeoutException)
        {
            return "";
        }
    }

    [Test]
    public async Task MasterKilledUnderLoad_SentinelsPromoteTheReplica_GatewayFollows_NoRequestFails_CountersContinue()
    {
        using var upstream = WireMockUpstream.StartProvider();
        await using var master = await RedisServer.StartAsync();
        await using var replica = await RedisServer.StartReplicaAsync(master);
        await Poll.UntilAsync(() => replica.CommandAsync("INFO", "replication").Result.Contains("master_link_status:up", StringComparison.Ordinal), "the replica in sync");
        var sentinels = new List<RedisServer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                sentinels.Add(await RedisServer.StartSentinelAsync(master, Service));
            }

            // Failover needs the sentinels to know the replica and each other (a majority votes).
            await Poll.UntilAsync(() => sentinels.All(s => s.CommandAsync("SENTINEL", "replicas", Service).Result.Contains(replica.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
                && s.CommandAsync("SENTINEL", "sentinels", Service).Result.Split('\n').Count(l => l == "runid") >= 2), "sentinels that know the replica and each other");

            var configuration = string.Join(',', sentinels.Select(s => $"127.0.0.1:{s.Port}")) + $",serviceName={Service},abortConnect=false,connectTimeout=2000,syncTimeout=2000";
            await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
            {
                ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()),
                ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 100000}}}}""",
            }, new Dictionary<string, string?> { ["Redis:Configuration"] = configuration });
            await Poll.UntilAsync(() => JsonNode.Parse(gateway.Client.GetStringAsync("/readyz").Result)!["redis"]!["connected"]!.GetValue<bool>(), "the gateway connected through the sentinels");

            for (var i = 0; i < 10; i++)
            {
                var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }

            await Poll.UntilAsync(() => UsageRequestsAsync(master).Result == 10, "usage counted on the master");
            await Poll.UntilAsync(() => UsageRequestsAsync(replica).Result == 10, "usage replicated");

            // Load from two workers through the failover.
            var statuses = new ConcurrentQueue<HttpStatusCode>();
            using var stop = new CancellationTokenSource();
            var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
                    statuses.Enqueue(response.StatusCode);
                    await Task.Delay(20);
                }
            })).ToList();

            await Task.Delay(300);
            await master.KillAsync();
            await Poll.UntilAsync(() => Ask(sentinels[0], "SENTINEL", "get-master-addr-by-name", Service).EndsWith(replica.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal),
                "the sentinels promoted the replica");
            var atPromotion = await UsageRequestsAsync(replica);
            await Poll.UntilAsync(() => long.TryParse(Ask(replica, "HGET", UsageKey(), "requests"), CultureInfo.InvariantCulture, out var count) && count >= atPromotion + 10,
                "the gateway writing to the new master");

            await stop.CancelAsync();
            await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));

            Assert.That(statuses.Where(s => s != HttpStatusCode.OK).Select(s => (int)s), Is.Empty, "no request failed while the master was replaced");
            Assert.That(await UsageRequestsAsync(replica), Is.GreaterThanOrEqualTo(10 + 10), "the counters went on from what was replicated");
            Assert.That(replica.CommandAsync("INFO", "replication").Result, Does.Contain("role:master"));
        }
        finally
        {
            foreach (var sentinel in sentinels)
            {
                await sentinel.DisposeAsync();
            }
        }
    }
}
