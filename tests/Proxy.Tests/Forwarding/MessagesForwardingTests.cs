using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Forwarding;

[TestFixture]
[CancelAfter(60_000)]
public sealed class MessagesForwardingTests
{
    private const string Mapping = """
        "modelMapping": { "opus": "up-opus", "sonnet": "up-sonnet", "sonnet-4": "up-sonnet-4", "claude-haiku-exact": "up-haiku" }
        """;

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), Mapping),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Body(string model, bool stream = false) =>
        $$"""{"model":"{{model}}","max_tokens":64,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    [TestCase("claude-opus-4-7", "up-opus")]
    [TestCase("claude-sonnet-4-6", "up-sonnet-4")]
    [TestCase("claude-sonnet-3-7", "up-sonnet")]
    [TestCase("CLAUDE-OPUS-4-1", "up-opus")]
    [TestCase("claude-haiku-exact", "up-haiku")]
    [TestCase("some-other-model", "some-other-model")]
    public async Task Messages_ModelMapped_UpstreamGetsMappedModelAndClientSeesItsOwn(string requested, string upstreamModel)
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages?beta=true", Body(requested)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["model"]!.GetValue<string>(), Is.EqualTo(requested));
        Assert.That(json["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Model, Is.EqualTo(upstreamModel));
        Assert.That(seen.Path, Is.EqualTo("/v1/messages"));
        Assert.That(seen.QueryString, Is.EqualTo("?beta=true"));
    }

    [Test]
    public async Task Messages_CallerKey_NeverReachesUpstream_ChannelKeyDoes([Values] bool bearer)
    {
        var request = _gateway.Post("/v1/messages", Body("claude-opus-4-7"), bearer);
        request.Headers.Add("anthropic-beta", "interleaved-thinking-2025-05-14,claude-code-20250219");
        request.Headers.Add("Cookie", "session=abc");

        var (response, _) = await _gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
        Assert.That(seen.Header("authorization"), Is.Null);
        Assert.That(seen.Header("cookie"), Is.Null);
        Assert.That(seen.Header("anthropic-version"), Is.EqualTo("2023-06-01"));
        Assert.That(seen.Header("anthropic-beta"), Is.EqualTo("interleaved-thinking-2025-05-14,claude-code-20250219"));
        Assert.That(string.Join("\n", seen.Headers.Values), Does.Not.Contain(TestGateway.AccessKey));
    }

    [Test]
    public async Task Messages_NoAnthropicVersion_DefaultIsSentUpstream()
    {
        var request = _gateway.Post("/v1/messages", Body("claude-opus-4-7"));
        request.Headers.Remove("anthropic-version");

        await _gateway.SendAsync(request);

        Assert.That(_upstream.Received().Single().Header("anthropic-version"), Is.EqualTo("2023-06-01"));
    }

    [Test]
    public async Task Messages_BodyBytesOtherThanModel_ReachUpstreamUnchanged()
    {
        // Key order, spacing, unicode escapes and a thinking signature must survive byte for byte.
        const string Tail = """ ,"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"\u00e9t\u00e9","signature":"EqQBCkYIARgCKkA+/sig=="}]}],"max_tokens":  64}""";
        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", "{\"model\":\"claude-opus-4-7\"" + Tail));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received().Single().Body, Is.EqualTo("{\"model\":\"up-opus\"" + Tail));
    }

    [Test]
    public async Task Stream_EventsRelayed_ModelRestoredInMessageStart()
    {
        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7", stream: true)));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
        var events = SseText.Parse(text);
        Assert.That(events.First().Type, Is.EqualTo("message_start"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(JsonNode.Parse(events.First().Data)!["message"]!["model"]!.GetValue<string>(), Is.EqualTo("claude-opus-4-7"));
        var deltas = events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!["text"]!.GetValue<string>());
        Assert.That(string.Concat(deltas), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_upstream.Received().Single().Model, Is.EqualTo("up-opus"));
    }

    [Test]
    public async Task Stream_FirstEventReachesClient_WhileUpstreamHoldsTheRest()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.AnswerEveryRequest(Response.Create().WithEvents(_ => [
            FakeAnthropic.MessageStart("up-opus"),
            StreamStep.Wait(gate.Task),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "late"),
            FakeAnthropic.BlockStop(0),
            FakeAnthropic.MessageDelta("end_turn", 3),
            FakeAnthropic.MessageStop(),
        ]));

        var request = _gateway.Post("/v1/messages", Body("claude-opus-4-7", stream: true));
        using var response = await _gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        using var reader = new StreamReader(body);

        // The first event arrives although the upstream has not sent the rest yet.
        var first = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(first, Is.EqualTo("event: message_start"));
        Assert.That(gate.Task.IsCompleted, Is.False);

        gate.SetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(rest, Does.Contain("late"));
        Assert.That(rest.TrimEnd(), Does.EndWith("data: {\"type\":\"message_stop\"}"));
    }

    [Test]
    public async Task Stream_UpstreamCutMidway_ClientGetsErrorEventNotSilentClose()
    {
        // A stream cut mid-way: the Kestrel fake, which WireMock cannot be.
        await using var cutting = await FakeUpstream.StartAsync();
        cutting.Handler = (request, context) => FakeAnthropic.WriteStreamAsync(context,
        [
            FakeAnthropic.MessageStart("up-opus"),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "partial"),
            StreamStep.Abort(),
        ], context.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(cutting.BaseUrl, Mapping) });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body("claude-opus-4-7", stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(events.Select(e => e.Type), Does.Contain("content_block_delta"));
        Assert.That(events.Last().Type, Is.EqualTo("error"));
        Assert.That(JsonNode.Parse(events.Last().Data)!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("api_error"));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("message_stop"));
    }

    [Test]
    public async Task Stream_ClientDisconnects_UpstreamRequestIsCancelled()
    {
        // Seeing the upstream request cancelled takes the Kestrel fake: WireMock does not tell.
        await using var upstream = await FakeUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl, Mapping) });
        var upstreamAborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        upstream.Handler = async (request, context) =>
        {
            context.RequestAborted.Register(() => upstreamAborted.TrySetResult());
            await FakeAnthropic.WriteStreamAsync(context,
            [
                FakeAnthropic.MessageStart("up-opus"),
                StreamStep.Wait(Task.Delay(Timeout.Infinite, context.RequestAborted)),
            ], context.RequestAborted);
        };

        var request = gateway.Post("/v1/messages", Body("claude-opus-4-7", stream: true));
        var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStreamAsync();
        var first = await new StreamReader(body).ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(first, Is.EqualTo("event: message_start"));

        // The client goes away mid-stream: the gateway must not keep the upstream request open.
        response.Dispose();

        await upstreamAborted.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task CountTokens_ForwardedToChannel_WithMappedModel()
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages/count_tokens?beta=true",
            """{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"count me"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["input_tokens"]!.GetValue<int>(), Is.GreaterThan(0));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages/count_tokens"));
        Assert.That(seen.Model, Is.EqualTo("up-sonnet-4"));
    }

    [TestCase(64000, 8192)]
    [TestCase(100, 100)]
    public async Task Messages_ChannelMaxTokens_ClampsLargerRequests(int requested, int upstreamSees)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["small.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "maxTokens": 8192 """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages",
            $$"""{"model":"claude-opus-4-7","max_tokens":{{requested}},"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received().Single().Json!["max_tokens"]!.GetValue<int>(), Is.EqualTo(upstreamSees));
    }

    [Test]
    public async Task Messages_PathInOtherCase_UpstreamGetsCanonicalPathAndQuery()
    {
        var (response, _) = await _gateway.SendAsync(_gateway.Post("/V1/Messages?beta=true", Body("claude-opus-4-7")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received().Single().Path, Is.EqualTo("/v1/messages"));
        Assert.That(_upstream.Received().Single().QueryString, Is.EqualTo("?beta=true"));
    }

    [Test]
    public async Task Messages_UpstreamSetsCookie_ClientDoesNotGetIt()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithHeader("Set-Cookie", "__cf_bm=upstream-session; Path=/")
            .WithJson(FakeAnthropic.Message("up-opus", [FakeAnthropic.TextBlock("hi")])));

        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.Contains("Set-Cookie"), Is.False);
    }

    [Test]
    public async Task Head_Root_AnsweredCheaply()
    {
        using var response = await _gateway.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Responses_CarryRequestId()
    {
        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        Assert.That(response.Headers.GetValues("x-request-id").Single(), Does.Match("^req_[0-9a-f]{24}$"));
    }
}
