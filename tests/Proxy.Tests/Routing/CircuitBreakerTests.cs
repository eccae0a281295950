using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Channel breakers end to end: a failing channel is skipped once its breaker opens, probed once after the
/// cooldown, and either taken back or left out for twice as long; when every candidate is out the client is
/// answered at once, in its own protocol, with a <c>retry-after</c>, and no upstream is called; an upstream's
/// own <c>retry-after</c> on 529 pauses the whole channel. Timing is never asserted: waits poll with a deadline.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class CircuitBreakerTests : TwoProviders
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync(Dictionary<string, string?> settings, string aExtra = "") => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl(), """ "priority": 0 """ + aExtra),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
    }, settings);

    private static Dictionary<string, string?> Breaker(int consecutiveFailures, int baseCooldownSeconds) => new()
    {
        ["Routing:Breaker:ConsecutiveFailures"] = consecutiveFailures.ToString(CultureInfo.InvariantCulture),
        // One test client: any caller's failure counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
        ["Routing:Breaker:MinimumCallers"] = "1",
        ["Routing:Breaker:BaseCooldownSeconds"] = baseCooldownSeconds.ToString(CultureInfo.InvariantCulture),
    };

    private static IResponseBuilder ServerError() => WireMockUpstream.AnthropicError(500, "api_error", "boom");

    [Test]
    public async Task ServerErrors_BreakerOpensAfterThree_NextRequestsGoStraightToTheNextChannel()
    {
        A.AnswerEveryRequest(ServerError());
        // A long cooldown here: no probe may come while the skipping is checked, however slow the machine.
        await using var gateway = await GatewayAsync(Breaker(3, 30));

        await SendOkAsync(gateway, 3);
        Assert.That(A.Received(), Has.Count.EqualTo(3));
        Assert.That(B.Received(), Has.Count.EqualTo(3));

        var a = await HealthAsync(gateway, "a");
        Assert.That(a["available"]!.GetValue<bool>(), Is.False);
        var breaker = a["breaker"]!;
        Assert.That(Str(breaker["state"]), Is.EqualTo("open"));
        Assert.That(Str(breaker["reason"]), Is.EqualTo("server_error"));
        Assert.That(breaker["consecutiveFailures"]!.GetValue<int>(), Is.EqualTo(3));
        Assert.That(breaker["recentErrors"]!["server_error"]!.GetValue<int>(), Is.EqualTo(3));
        Assert.That(breaker["recentFailures"]!.GetValue<int>(), Is.EqualTo(3));
        Assert.That(Time(breaker["openUntil"]) - Time(breaker["lastFailureAt"]), Is.EqualTo(TimeSpan.FromSeconds(30)));
        Assert.That(Str((await HealthAsync(gateway, "b"))["breaker"]!["state"]), Is.EqualTo("closed"));

        await SendOkAsync(gateway, 5);
        Assert.That(A.Received(), Has.Count.EqualTo(3), "an open channel gets no request");
        Assert.That(B.Received(), Has.Count.EqualTo(8));
    }

    [Test]
    public async Task OpenBreaker_AfterCooldown_ProbeSucceeds_ChannelClosesAndTakesTrafficAgain()
    {
        var outage = A.AnswerEveryRequest(ServerError());
        await using var gateway = await GatewayAsync(Breaker(3, 1));
        await SendOkAsync(gateway, 3);
        Assert.That(Str((await HealthAsync(gateway, "a"))["breaker"]!["reason"]), Is.EqualTo("server_error"));

        A.DeleteMapping(outage);
        await SendUntilAsync(gateway, () => A.Received().Count == 4, "no probe reached channel a after its cooldown");

        var a = await HealthAsync(gateway, "a");
        Assert.That(Str(a["breaker"]!["state"]), Is.EqualTo("closed"));
        Assert.That(a["breaker"]!["reason"], Is.Null);
        Assert.That(a["available"]!.GetValue<bool>(), Is.True);

        var served = B.Received().Count;
        await SendOkAsync(gateway, 3);
        Assert.That(A.Received(), Has.Count.EqualTo(7), "priority 0 takes the traffic again");
        Assert.That(B.Received(), Has.Count.EqualTo(served));
    }

    [Test]
    public async Task OpenBreaker_AfterCooldown_ProbeFails_ReopensForTwiceAsLong()
    {
        A.AnswerEveryRequest(ServerError());
        await using var gateway = await GatewayAsync(Breaker(3, 1));
        await SendOkAsync(gateway, 3);
        var first = (await HealthAsync(gateway, "a"))["breaker"]!;
        var firstOpenUntil = Time(first["lastFailureAt"]) + TimeSpan.FromSeconds(1);
        // On a slow machine the 1 s may already be over (then /status shows half_open without openUntil).
        if (Str(first["state"]) == "open")
        {
            Assert.That(Time(first["openUntil"]), Is.EqualTo(firstOpenUntil));
        }

        await SendUntilAsync(gateway, () => A.Received().Count == 4, "no probe reached channel a after its cooldown");
        Assert.That(A.Received(), Has.Count.EqualTo(4), "one probe");

        var second = (await HealthAsync(gateway, "a"))["breaker"]!;
        Assert.That(Str(second["state"]), Is.EqualTo("open"));
        Assert.That(Str(second["reason"]), Is.EqualTo("server_error"));
        Assert.That(Time(second["openUntil"]) - Time(second["lastFailureAt"]), Is.EqualTo(TimeSpan.FromSeconds(2)), "twice the first cooldown");
        Assert.That(Time(second["openUntil"]), Is.GreaterThan(firstOpenUntil));
        Assert.That(second["recentErrors"]!["server_error"]!.GetValue<int>(), Is.EqualTo(4));
    }

    [Test]
    public async Task EveryCandidateOpen_AnsweredAtOnce_529ForAnthropicClients_503ForOpenAIClients_NoUpstreamCall()
    {
        A.AnswerEveryRequest(ServerError());
        B.AnswerEveryRequest(ServerError());
        await using var gateway = await GatewayAsync(Breaker(1, 30));

        // Both fail once: both breakers open; the last failure is what this client sees.
        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That((int)first.StatusCode, Is.EqualTo(500));
        Assert.That(A.Received(), Has.Count.EqualTo(1));
        Assert.That(B.Received(), Has.Count.EqualTo(1));

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        ErrorAssert.Anthropic(response, json, (HttpStatusCode)529, "overloaded_error");
        Assert.That(RetryAfter(response), Is.InRange(1, 30));

        var (chat, chatJson) = await gateway.SendAsync(gateway.Post("/v1/chat/completions", Body, bearer: true));
        ErrorAssert.OpenAI(chat, chatJson, HttpStatusCode.ServiceUnavailable, "server_error");
        Assert.That(RetryAfter(chat), Is.InRange(1, 30));

        Assert.That(A.Received(), Has.Count.EqualTo(1), "nothing is sent to an open channel");
        Assert.That(B.Received(), Has.Count.EqualTo(1), "nothing is sent to an open channel");
    }

    [Test]
    public async Task EveryCandidateKeyRateLimited_429WithRetryAfter_NoUpstreamCall()
    {
        A.AnswerEveryRequest(RateLimited(20));
        B.AnswerEveryRequest(RateLimited(20));
        await using var gateway = await GatewayAsync([]);

        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That((int)first.StatusCode, Is.EqualTo(429), "the last upstream's 429 reaches the client");
        Assert.That(RetryAfter(first), Is.EqualTo(20), "with its retry-after");
        Assert.That(A.Received(), Has.Count.EqualTo(1));
        Assert.That(B.Received(), Has.Count.EqualTo(1));

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        ErrorAssert.Anthropic(response, json, HttpStatusCode.TooManyRequests, "rate_limit_error");
        Assert.That(RetryAfter(response), Is.InRange(1, 20));
        Assert.That(A.Received(), Has.Count.EqualTo(1), "a cooling key is not used");
        Assert.That(B.Received(), Has.Count.EqualTo(1), "a cooling key is not used");
    }

    [TestCase(529)]
    [TestCase(503)]
    public async Task OverloadedWithRetryAfter_WholeChannelCools_OtherKeysNotTried_NextChannelServes(int status)
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(status, status == 529 ? "overloaded_error" : "api_error", "Overloaded", ("retry-after", "30")));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = $$"""{ "type": "anthropic", "baseUrl": "{{A.BaseUrl()}}", "apiKeys": ["sk-a-first-key-0d1e", "sk-a-second-key-77c4"], "priority": 0 }""",
            ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
        });

        var before = DateTimeOffset.UtcNow;
        await SendOkAsync(gateway, 1);
        var after = DateTimeOffset.UtcNow;
        Assert.That(A.Received(), Has.Count.EqualTo(1), "the channel's other key is not tried: the provider is overloaded");
        Assert.That(B.Received(), Has.Count.EqualTo(1));

        await SendOkAsync(gateway, 4);
        Assert.That(A.Received(), Has.Count.EqualTo(1), "the channel cools for the upstream's retry-after");
        Assert.That(B.Received(), Has.Count.EqualTo(5));

        var a = await HealthAsync(gateway, "a");
        Assert.That(Str(a["breaker"]!["state"]), Is.EqualTo("open"));
        Assert.That(Str(a["breaker"]!["reason"]), Is.EqualTo("overloaded"));
        Assert.That(Time(a["breaker"]!["openUntil"]), Is.InRange(before.AddSeconds(29), after.AddSeconds(31)));
        Assert.That(a["keys"]!.AsArray().Select(k => Str(k!["breaker"]!["state"])), Is.All.EqualTo("closed"), "no key is blamed");
    }

    [Test]
    public async Task CountTokens_AnthropicChannelOut_NextIsOpenAI_AnsweredWithTheEstimateNot500()
    {
        A.AnswerEveryRequest(ServerError());
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl(), """ "priority": 0 """),
            ["b.json"] = TestGateway.OpenAIChannel(B.BaseUrl(), """ "priority": 1 """),
        }, Breaker(1, 30));
        await SendOkAsync(gateway, 1);

        // a's breaker is open: the count goes to b, an OpenAI channel, which cannot count tokens.
        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages/count_tokens",
            """{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"count these words please"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["input_tokens"]!.GetValue<int>(), Is.GreaterThan(0));
        Assert.That(A.Received(), Has.Count.EqualTo(1), "the open channel is not asked");
        Assert.That(B.Received().Select(r => r.Path), Has.None.Contains("count_tokens"));
    }

    private static IResponseBuilder RateLimited(int seconds)
        => WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down", ("retry-after", seconds.ToString(CultureInfo.InvariantCulture)));

    private static async Task SendOkAsync(TestGateway gateway, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        }
    }

    /// <summary>Sends a request every 0.2 s (each must succeed) until <paramref name="done"/>; fails after 20 s.</summary>
    private static async Task SendUntilAsync(TestGateway gateway, Func<bool> done, string failure)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!done())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), failure);
            await Task.Delay(200);
            await SendOkAsync(gateway, 1);
        }
    }

    private static int RetryAfter(HttpResponseMessage response) =>
        int.Parse(response.Headers.GetValues("retry-after").Single(), CultureInfo.InvariantCulture);

    private static string? Str(JsonNode? node) => node?.GetValue<string>();

    private static DateTimeOffset Time(JsonNode? node) => DateTimeOffset.Parse(Str(node)!, CultureInfo.InvariantCulture);

    /// <summary>The <c>health</c> object of channel <paramref name="name"/> on <c>/status</c>.</summary>
    private static async Task<JsonNode> HealthAsync(TestGateway gateway, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
        request.Headers.Add("x-api-key", TestGateway.AdminKey);
        using var response = await gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!["channels"]!.AsArray().Single(c => Str(c!["name"]) == name)!["health"]!;
    }
}
