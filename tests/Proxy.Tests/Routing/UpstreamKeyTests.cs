using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Several upstream keys and destinations in one channel: a refused (401/403) or rate-limited (429) key hands
/// the request to the channel's next key and is left out afterwards, a refused key is probed again after its
/// cooldown, an unreachable destination hands over to the channel's next destination; <c>/status</c> shows
/// each key by fingerprint and never a secret. Keys rotate (session affinity off) so that half the requests
/// would start with the bad key if it were not left out.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class UpstreamKeyTests
{
    private const string KeyOne = "sk-ant-key-one-secret-4f1e9a";
    private const string KeyTwo = "sk-ant-key-two-secret-8b27c3";
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    // One test client: any caller's refusal counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
    private static readonly Dictionary<string, string?> s_rotateKeys = new() { ["Routing:SessionAffinity"] = "false", ["Routing:Breaker:MinimumCallers"] = "1" };

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    /// <summary>Requests carrying the channel's first key.</summary>
    private static IRequestBuilder WithKeyOne() => Request.Create().WithHeader("x-api-key", KeyOne);

    [TestCase(401, "authentication_error")]
    [TestCase(403, "permission_error")]
    public async Task KeyRefused_NextKeyServes_RefusedKeyLeftOutAndShownDisabled(int status, string type)
    {
        _upstream.Given(WithKeyOne()).RespondWith(WireMockUpstream.AnthropicError(status, type, "invalid x-api-key"));
        await using var gateway = await TestGateway.StartAsync(OneChannel(Channel([_upstream.BaseUrl()], [KeyOne, KeyTwo])), s_rotateKeys);

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(KeysSent(), Is.EqualTo(new[] { KeyOne, KeyTwo }), "the refused key first, then the channel's next key");
        Assert.That(gateway.Logs.All, Does.Contain($"(key {Fingerprint(KeyOne)}) failed before answering (HTTP {status}); trying channel only (key {Fingerprint(KeyTwo)})"));

        for (var i = 0; i < 5; i++)
        {
            var (next, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(next.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(KeysSent().Skip(2), Is.EqualTo(Enumerable.Repeat(KeyTwo, 5)), "the refused key is left out");

        var (statusText, channel) = await ChannelStatusAsync(gateway, "only");
        var health = channel["health"]!;
        Assert.That(health["available"]!.GetValue<bool>(), Is.True);
        Assert.That(Str(health["breaker"]!["state"]), Is.EqualTo("closed"), "a refused key is not the channel's fault");
        var refused = health["keys"]![0]!;
        Assert.That(Str(refused["key"]), Is.EqualTo(Fingerprint(KeyOne)));
        Assert.That(refused["disabled"]!.GetValue<bool>(), Is.True);
        Assert.That(Str(refused["breaker"]!["state"]), Is.EqualTo("open"));
        Assert.That(Str(refused["breaker"]!["reason"]), Is.EqualTo("key_rejected"));
        var good = health["keys"]![1]!;
        Assert.That(Str(good["key"]), Is.EqualTo(Fingerprint(KeyTwo)));
        Assert.That(good["disabled"]!.GetValue<bool>(), Is.False);
        Assert.That(Str(good["breaker"]!["state"]), Is.EqualTo("closed"));

        foreach (var secret in new[] { KeyOne, KeyTwo })
        {
            Assert.That(statusText, Does.Not.Contain(secret), "/status leaks an upstream key");
            Assert.That(gateway.Logs.All, Does.Not.Contain(secret), "a log line leaks an upstream key");
        }
    }

    [Test]
    public async Task KeyRateLimitedWithRetryAfter_NextKeyServes_KeyCoolsForThatLong()
    {
        _upstream.Given(WithKeyOne()).RespondWith(WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down", ("retry-after", "30")));
        await using var gateway = await TestGateway.StartAsync(OneChannel(Channel([_upstream.BaseUrl()], [KeyOne, KeyTwo])), s_rotateKeys);

        var before = DateTimeOffset.UtcNow;
        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        var after = DateTimeOffset.UtcNow;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(KeysSent(), Is.EqualTo(new[] { KeyOne, KeyTwo }));
        for (var i = 0; i < 5; i++)
        {
            var (next, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(next.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(KeysSent().Skip(2), Is.EqualTo(Enumerable.Repeat(KeyTwo, 5)), "the rate-limited key is left out while it cools");

        var (_, channel) = await ChannelStatusAsync(gateway, "only");
        var limited = channel["health"]!["keys"]![0]!;
        Assert.That(limited["disabled"]!.GetValue<bool>(), Is.False, "rate limited is not refused");
        var breaker = limited["breaker"]!;
        Assert.That(Str(breaker["state"]), Is.EqualTo("open"));
        Assert.That(Str(breaker["reason"]), Is.EqualTo("rate_limited"));
        Assert.That(breaker["recentErrors"]!["rate_limited"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(DateTimeOffset.Parse(Str(breaker["openUntil"])!, System.Globalization.CultureInfo.InvariantCulture),
            Is.InRange(before.AddSeconds(29), after.AddSeconds(31)), "open for the upstream's retry-after");
        Assert.That(Str(channel["health"]!["keys"]![1]!["breaker"]!["state"]), Is.EqualTo("closed"));
    }

    [Test]
    public async Task RefusedKey_AfterItsCooldown_OneRequestProbesIt_KeyIsBack()
    {
        var refusal = Guid.NewGuid();
        _upstream.Given(WithKeyOne()).WithGuid(refusal).RespondWith(WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"));
        // Holds the probe's answer until the other requests of the burst are through, so none can come after it.
        var releaseProbe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Given(WithKeyOne()).AtPriority(1).RespondWith(Response.Create().WithAnswer(async request =>
        {
            await releaseProbe.Task.WaitAsync(TimeSpan.FromSeconds(20));
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }));
        await using var gateway = await TestGateway.StartAsync(OneChannel(Channel([_upstream.BaseUrl()], [KeyOne, KeyTwo])),
            new Dictionary<string, string?>(s_rotateKeys) { ["Routing:Breaker:KeyRejectedCooldownSeconds"] = "1" });

        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(KeysSent(), Is.EqualTo(new[] { KeyOne, KeyTwo }));

        // The operator fixes the key upstream; the gateway finds out by itself once the cooldown ends.
        _upstream.DeleteMapping(refusal);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Str((await ChannelStatusAsync(gateway, "only")).Channel["health"]!["keys"]![0]!["breaker"]!["state"]) != "half_open")
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the refused key's cooldown never ended");
            await Task.Delay(100);
        }

        // A burst of six: half of them start with key 1 in the rotation, but only one may probe it.
        var burst = Enumerable.Range(0, 6).Select(_ => gateway.SendAsync(gateway.Post("/v1/messages", Body))).ToList();
        try
        {
            deadline = DateTime.UtcNow.AddSeconds(20);
            while (KeysSent().Count(k => k == KeyTwo) < 6)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"keys sent: {string.Join(", ", KeysSent().Select(k => k == KeyOne ? "1" : "2"))}");
                await Task.Delay(50);
            }
        }
        finally
        {
            releaseProbe.TrySetResult();
        }

        foreach (var (response, _) in await Task.WhenAll(burst))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(KeysSent().Count(k => k == KeyOne), Is.EqualTo(2), "the refusal, then exactly one probe");

        var (_, channel) = await ChannelStatusAsync(gateway, "only");
        var key = channel["health"]!["keys"]![0]!;
        Assert.That(key["disabled"]!.GetValue<bool>(), Is.False);
        Assert.That(Str(key["breaker"]!["state"]), Is.EqualTo("closed"));
        Assert.That(key["breaker"]!["reason"], Is.Null);

        // Back in the rotation.
        var sent = KeysSent().Count;
        for (var i = 0; i < 4; i++)
        {
            var (next, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(next.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(KeysSent().Skip(sent), Does.Contain(KeyOne).And.Contain(KeyTwo));
    }

    [Test]
    public async Task EveryKeyRefused_502ThatClientsDoNotRetry_NoUpstreamCallWhileLeftOut()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"));
        await using var gateway = await TestGateway.StartAsync(OneChannel(Channel([_upstream.BaseUrl()], [KeyOne, KeyTwo])), s_rotateKeys);

        var (first, firstJson) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        ErrorAssert.Anthropic(first, firstJson, HttpStatusCode.BadGateway, "api_error");
        Assert.That(KeysSent(), Is.EquivalentTo(new[] { KeyOne, KeyTwo }), "each key tried once");

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadGateway, "api_error");
        Assert.That(message, Does.Contain("only"));
        Assert.That(response.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
        Assert.That(_upstream.Received(), Has.Count.EqualTo(2), "refused keys are left out");
        ErrorAssert.NoSecrets(response, json!.ToJsonString(), KeyOne, KeyTwo);
    }

    [Test]
    public async Task FirstDestinationRefusesConnections_SecondDestinationOfTheSameChannelServes()
    {
        var closed = FreePort.ClosedUrl();
        await using var gateway = await TestGateway.StartAsync(OneChannel(Channel([closed, _upstream.BaseUrl()], [KeyOne])));

        // Each conversation prefers one destination: go through conversations until one prefers the closed one.
        var sent = 0;
        while (!gateway.Logs.All.Contains("failed before answering", StringComparison.Ordinal))
        {
            Assert.That(sent, Is.LessThan(30), "no request was ever routed to the closed destination first");
            var request = gateway.Post("/v1/messages", Body);
            request.Headers.Add("X-Claude-Code-Session-Id", $"destination-{sent++}");
            var (response, json) = await gateway.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        }

        Assert.That(_upstream.Received(), Has.Count.EqualTo(sent), "every request answered once, by the second destination");
        Assert.That(gateway.Logs.All, Does.Contain("failed before answering (connection failed or was reset); trying channel only"));

        var (_, channel) = await ChannelStatusAsync(gateway, "only");
        var health = channel["health"]!;
        Assert.That(health["breaker"]!["recentErrors"]!.AsObject(), Is.Empty, "an unreachable destination is not the channel's fault");
        Assert.That(health["keys"]![0]!["breaker"]!["recentErrors"]!.AsObject(), Is.Empty, "nor the key's");
        var destination = health["destinations"]!.AsArray().Single(d => Str(d!["baseUrl"])!.Contains($":{closed.Port}", StringComparison.Ordinal))!;
        Assert.That(Str(destination["breaker"]!["lastFailure"]), Is.EqualTo("unreachable"));
        Assert.That(destination["breaker"]!["recentErrors"]!["unreachable"]!.GetValue<int>(), Is.GreaterThanOrEqualTo(1));
    }

    private List<string?> KeysSent() => [.. _upstream.Received().Select(r => r.Header("x-api-key"))];

    private static Dictionary<string, string> OneChannel(string json) => new() { ["only.json"] = json };

    /// <summary>An Anthropic channel file with literal keys and one or more destinations.</summary>
    private static string Channel(Uri[] baseUrls, string[] keys) => new JsonObject
    {
        ["type"] = "anthropic",
        ["baseUrls"] = new JsonArray([.. baseUrls.Select(u => JsonValue.Create(u.OriginalString))]),
        ["apiKeys"] = new JsonArray([.. keys.Select(k => JsonValue.Create(k))]),
    }.ToJsonString();

    /// <summary>The first 8 hex digits of the key's SHA-256, as the gateway shows keys.</summary>
    private static string Fingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))[..4]);

    private static string? Str(JsonNode? node) => node?.GetValue<string>();

    /// <summary>The whole <c>/status</c> text and the named channel's entry.</summary>
    private static async Task<(string Text, JsonNode Channel)> ChannelStatusAsync(TestGateway gateway, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
        request.Headers.Add("x-api-key", TestGateway.AdminKey);
        using var response = await gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var channel = JsonNode.Parse(text)!["channels"]!.AsArray().Single(c => Str(c!["name"]) == name)!;
        return (text, channel);
    }
}
