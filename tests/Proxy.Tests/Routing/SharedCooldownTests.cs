using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Two replicas on one real redis-server, with the same two channels (<c>a</c> preferred, <c>b</c> fallback):
/// a cooldown one replica learns from an upstream (429 with <c>retry-after</c>, a refused key) reaches the
/// other through the store, which then skips the cooled key without sending it anything. With Redis gone,
/// requests are still served and cooldowns stay local, with one warning per replica.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(60_000)]
public sealed class SharedCooldownTests
{
    private static readonly TimeSpan s_deadline = TimeSpan.FromSeconds(10);

    private RedisServer _redis = null!;
    private WireMockServer _a = null!;
    private WireMockServer _b = null!;

    [SetUp]
    public async Task SetUp()
    {
        _redis = await RedisServer.StartAsync();
        _a = WireMockUpstream.StartProvider();
        _b = WireMockUpstream.StartProvider();
    }

    [TearDown]
    public async Task TearDown()
    {
        _a.Dispose();
        _b.Dispose();
        await _redis.DisposeAsync();
    }

    private static string Body => """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(
        new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(_a.BaseUrl(), """ "priority": 0 """),
            ["b.json"] = TestGateway.AnthropicChannel(_b.BaseUrl(), """ "priority": 1 """),
        },
        new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = _redis.ConnectionString,
            ["Routing:CooldownSyncSeconds"] = "0.2",
            // One test client: any caller's refusal counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
            ["Routing:Breaker:MinimumCallers"] = "1",
        });

    private static IResponseBuilder RateLimited()
        => WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down", ("retry-after", "30"));

    public static IEnumerable<TestCaseData> CooldownFaults()
    {
        yield return new TestCaseData(RateLimited(), "rate_limited").SetArgDisplayNames("429 retry-after 30");
        yield return new TestCaseData(WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"),
            "key_rejected").SetArgDisplayNames("401 key refused");
    }

    [TestCaseSource(nameof(CooldownFaults))]
    public async Task KeyCooledOnOneReplica_OtherReplicaSkipsItWithoutSendingIt(IResponseBuilder fault, string reason)
    {
        _a.AnswerEveryRequest(fault);
        await using var first = await GatewayAsync();
        await using var second = await GatewayAsync();

        var (answer, _) = await first.SendAsync(first.Post("/v1/messages", Body));
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the first replica fails over to b");
        Assert.That(_a.Received(), Has.Count.EqualTo(1));
        Assert.That(_b.Received(), Has.Count.EqualTo(1));

        var key = await WaitForKeyBreakerAsync(second, "a", reason);
        Assert.That(key["breaker"]!["state"]!.GetValue<string>(), Is.EqualTo("open"));

        var (shared, _) = await second.SendAsync(second.Post("/v1/messages", Body));

        Assert.That(shared.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_b.Received(), Has.Count.EqualTo(2), "the second replica went straight to b");
        Assert.That(_a.Received(), Has.Count.EqualTo(1), "a's cooled key received nothing from the second replica");
        Assert.That(second.Logs.All, Does.Not.Contain("trying channel b"), "no failed attempt on the second replica");
    }

    [Test]
    public async Task RedisKilled_RequestsStillServed_CooldownsStayLocal_OneWarningPerReplica()
    {
        _a.AnswerEveryRequest(RateLimited());
        await using var first = await GatewayAsync();
        await using var second = await GatewayAsync();
        await _redis.KillAsync();

        var (one, _) = await first.SendAsync(first.Post("/v1/messages", Body));
        Assert.That(one.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await WaitForLogAsync(first, "Cooldowns cannot be shared");
        await WaitForLogAsync(second, "Cooldowns cannot be shared");

        // The second replica could not learn the first one's cooldown: it meets a's 429 itself, and still answers.
        var (two, _) = await second.SendAsync(second.Post("/v1/messages", Body));
        Assert.That(two.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_a.Received(), Has.Count.EqualTo(2));

        // Each keeps its own cooldown: no more attempts on a from either replica.
        foreach (var gateway in new[] { first, second, first, second })
        {
            var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(_a.Received(), Has.Count.EqualTo(2));
        Assert.That(_b.Received(), Has.Count.EqualTo(6));

        // Several sync ticks (0.2 s) later, still a single warning each: logged when the outage starts, not on every tick.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.That(first.Logs.Lines.Count(l => l.Contains("Cooldowns cannot be shared", StringComparison.Ordinal)), Is.EqualTo(1));
        Assert.That(second.Logs.Lines.Count(l => l.Contains("Cooldowns cannot be shared", StringComparison.Ordinal)), Is.EqualTo(1));
    }

    /// <summary>Polls <c>GET /status</c> until channel <paramref name="channel"/>'s first key shows a breaker open for <paramref name="reason"/>.</summary>
    private static async Task<JsonNode> WaitForKeyBreakerAsync(TestGateway gateway, string channel, string reason)
    {
        var clock = Stopwatch.StartNew();
        JsonNode? key = null;
        while (clock.Elapsed < s_deadline)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
            request.Headers.Add("x-api-key", TestGateway.AdminKey);
            var (response, json) = await gateway.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            key = json!["channels"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == channel)!["health"]!["keys"]![0];
            if (key!["breaker"]!["reason"]?.GetValue<string>() == reason && key["breaker"]!["state"]!.GetValue<string>() == "open")
            {
                return key;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"channel {channel}'s key did not show {reason} within {s_deadline.TotalSeconds} s; last: {key?.ToJsonString()}");
        return null!;
    }

    private static async Task WaitForLogAsync(TestGateway gateway, string text)
    {
        var clock = Stopwatch.StartNew();
        while (!gateway.Logs.All.Contains(text, StringComparison.Ordinal) && clock.Elapsed < s_deadline)
        {
            await Task.Delay(100);
        }

        Assert.That(gateway.Logs.All, Does.Contain(text));
    }
}
