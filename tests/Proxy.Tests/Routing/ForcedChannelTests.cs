using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// <c>X-Channel: name</c>: a caller forces one channel of its group, whatever its priority and even while its
/// breaker is open; a name that is unknown, disabled, outside the caller's group or not serving the model is
/// refused in the caller's protocol, and nothing is sent upstream.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ForcedChannelTests : TwoProviders
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync(Dictionary<string, string?>? settings = null) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl(), """ "priority": 0 """),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
        ["team-x.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "groups": ["team-x"] """),
        ["gpt-only.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "models": ["gpt-*"] """),
        ["off.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "enabled": false """),
    }, settings);

    private static HttpRequestMessage Forced(TestGateway gateway, string channel, string path = "/v1/messages")
    {
        var request = gateway.Post(path, Body, bearer: path.StartsWith("/v1/chat", StringComparison.Ordinal));
        request.Headers.Add("X-Channel", channel);
        return request;
    }

    [Test]
    public async Task ForcedLowerPriorityChannel_ServesTheRequest()
    {
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(Forced(gateway, "b"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(B.Received(), Has.Count.EqualTo(1));
        Assert.That(A.Received(), Is.Empty, "priority 0 is passed over when the caller names another channel");
    }

    [TestCase("no-such-channel", HttpStatusCode.NotFound, "not_found_error", "channel_not_found", "no-such-channel", TestName = "{m}(unknown)")]
    [TestCase("off", HttpStatusCode.NotFound, "not_found_error", "channel_not_found", "off", TestName = "{m}(disabled)")]
    [TestCase("team-x", HttpStatusCode.Forbidden, "permission_error", "channel_not_allowed", "team-x", TestName = "{m}(other group)")]
    [TestCase("gpt-only", HttpStatusCode.NotFound, "not_found_error", "model_not_found", "claude-sonnet-4-6", TestName = "{m}(model not served)")]
    public async Task ChannelThatCannotBeForced_RefusedInTheCallersProtocol_NothingSentUpstream(
        string channel, HttpStatusCode status, string type, string code, string named)
    {
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(Forced(gateway, channel));
        Assert.That(ErrorAssert.Anthropic(response, json, status, type), Does.Contain(named));

        var (chat, chatJson) = await gateway.SendAsync(Forced(gateway, channel, "/v1/chat/completions"));
        Assert.That(ErrorAssert.OpenAI(chat, chatJson, status, type), Does.Contain(named));
        Assert.That(chatJson!["error"]!["code"]?.GetValue<string>(), Is.EqualTo(code));

        Assert.That(A.Received(), Is.Empty);
        Assert.That(B.Received(), Is.Empty);
    }

    [Test]
    public async Task ForcedChannelWithOpenBreaker_IsStillUsed()
    {
        var outage = A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "boom"));
        await using var gateway = await GatewayAsync(new Dictionary<string, string?>
        {
            ["Routing:Breaker:ConsecutiveFailures"] = "1",
            // One test client: any caller's failure counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
            ["Routing:Breaker:MinimumCallers"] = "1",
            ["Routing:Breaker:BaseCooldownSeconds"] = "30",
        });

        // a fails once: its breaker opens and ordinary requests go to b from now on.
        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        A.DeleteMapping(outage);
        var (second, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(A.Received(), Has.Count.EqualTo(1), "a's breaker is open");
        Assert.That(B.Received(), Has.Count.EqualTo(2));

        var (forced, json) = await gateway.SendAsync(Forced(gateway, "a"));

        Assert.That(forced.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(A.Received(), Has.Count.EqualTo(2), "the caller asked for a: its breaker is not consulted");
        Assert.That(B.Received(), Has.Count.EqualTo(2));
    }
}
