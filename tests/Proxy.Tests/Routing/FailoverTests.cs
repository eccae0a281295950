using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Failover before anything reaches the client: each upstream fault on the first (preferred) channel, and
/// the request answered by the second, with the client seeing one clean answer; the client's own mistakes
/// are never retried; when every candidate fails, the last failure is what the client sees. Faults WireMock cannot
/// play (a reset, a stream cut) are in <see cref="FailoverFaultTests"/>.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class FailoverTests : TwoProviders
{
    // The first channel's timeouts: short enough to fail over in a test, long enough that a loaded CI machine's pause
    // (a cold WireMock answering its first request) is not taken for a silent upstream.
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private Task<TestGateway> GatewayAsync(Uri? firstUrl = null) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a-first.json"] = TestGateway.AnthropicChannel(firstUrl ?? A.BaseUrl(), """ "priority": 0, "timeouts": { "responseHeaders": 2, "idle": 2 } """),
        ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
    });

    private static string Body(bool stream = false) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    public static IEnumerable<TestCaseData> RetryableFaults()
    {
        yield return new TestCaseData(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"), TimeSpan.Zero).SetArgDisplayNames("529");
        yield return new TestCaseData(WireMockUpstream.AnthropicError(500, "api_error", "boom"), TimeSpan.Zero).SetArgDisplayNames("500");
        yield return new TestCaseData(WireMockUpstream.HtmlError(502), TimeSpan.Zero).SetArgDisplayNames("502 html");
        yield return new TestCaseData(WireMockUpstream.HtmlError(503), TimeSpan.Zero).SetArgDisplayNames("503");
        yield return new TestCaseData(WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down"), TimeSpan.Zero).SetArgDisplayNames("429");
        yield return new TestCaseData(WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"), TimeSpan.Zero).SetArgDisplayNames("401 channel key refused");
        yield return new TestCaseData(WireMockUpstream.AnthropicError(403, "permission_error", "key disabled"), TimeSpan.Zero).SetArgDisplayNames("403 channel key refused");
        yield return new TestCaseData(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(""), TimeSpan.Zero).SetArgDisplayNames("empty 200");
        // WireMock logs this request only when its silence is over.
        yield return new TestCaseData(WireMockUpstream.SilentBeyond(Timeout), WireMockUpstream.Silence(Timeout))
            .SetArgDisplayNames("no headers in time");
    }

    [TestCaseSource(nameof(RetryableFaults))]
    public async Task FirstChannelFails_SecondAnswers_ClientSeesOneCleanAnswer(IResponseBuilder fault, TimeSpan loggedAfter)
    {
        A.AnswerEveryRequest(fault);
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        // Any retry on a was sent before the gateway answered; wait until WireMock has logged it too.
        await Task.Delay(loggedAfter);
        Assert.That(A.Received(), Has.Count.EqualTo(1), "a is tried once");
        Assert.That(B.Received(), Has.Count.EqualTo(1));
        Assert.That(gateway.Logs.All, Does.Contain("trying channel b-second"));
        Assert.That(response.Headers.GetValues("x-request-id").Single(), Does.Match("^req_[0-9a-f]{24}$"), "the gateway's own headers survive the failover");
    }

    [Test]
    public async Task FirstChannelRefusesConnections_SecondAnswers()
    {
        await using var gateway = await GatewayAsync(FreePort.ClosedUrl());

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(B.Received(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Streaming_FirstChannelOverloaded_StreamComesFromSecond_OneMessageStart()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"));
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(string.Concat(events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!["text"]!.GetValue<string>())),
            Is.EqualTo(FakeUpstreamOptions.DefaultText));
    }

    [Test]
    public async Task Streaming_FirstChannelSendsNoHeadersInTime_StreamComesFromSecond()
    {
        A.AnswerEveryRequest(WireMockUpstream.SilentBeyond(Timeout));
        await using var gateway = await GatewayAsync();

        await AssertOneCleanStreamAsync(gateway);
        Assert.That(B.Received(), Has.Count.EqualTo(1));
        await Task.Delay(WireMockUpstream.Silence(Timeout));
        Assert.That(A.Received(), Has.Count.EqualTo(1), "a is tried once");
    }

    [TestCase(400, "invalid_request_error")]
    [TestCase(404, "not_found_error")]
    [TestCase(413, "request_too_large")]
    public async Task ClientMistake_NotRetried_ClientSeesTheError(int status, string type)
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(status, type, "your request is wrong"));
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That((int)response.StatusCode, Is.EqualTo(status));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo(type));
        Assert.That(B.Received(), Is.Empty);
    }

    [Test]
    public async Task EveryCandidateFails_LastFailureReachesTheClient()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "first broke"));
        B.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "second overloaded"));
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That((int)response.StatusCode, Is.EqualTo(529));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Is.EqualTo("second overloaded"));
        Assert.That(A.Received(), Has.Count.EqualTo(1));
        Assert.That(B.Received(), Has.Count.EqualTo(1));
    }

    public static IEnumerable<TestCaseData> StreamFaultsBeforeContent()
    {
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m"), FakeAnthropic.Error("overloaded_error", "Overloaded")])
            .SetArgDisplayNames("error event before content");
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m")])
            .SetArgDisplayNames("ends before content");
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m"), StreamStep.Delay(TimeSpan.FromSeconds(5))])
            .SetArgDisplayNames("silent before content");
    }

    [TestCaseSource(nameof(StreamFaultsBeforeContent))]
    public async Task Stream_FailsBeforeFirstContent_RetriedInvisibly(IEnumerable<StreamStep> steps)
    {
        A.AnswerEveryRequest(Response.Create().WithEvents(_ => steps));
        await using var gateway = await GatewayAsync();

        await AssertOneCleanStreamAsync(gateway);
        Assert.That(B.Received(), Has.Count.EqualTo(1));
    }

    /// <summary>A streamed request gets one whole stream: one message_start, no error event, message_stop last.</summary>
    internal static async Task AssertOneCleanStreamAsync(TestGateway gateway)
    {
        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1), "one clean answer");
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
    }

    [Test]
    public async Task OpenAIChannelStream_ErrorChunkBeforeContent_FailsOverToTheNextChannel()
    {
        A.AnswerEveryRequest(Response.Create().WithEvents(_ => [FakeOpenAI.RoleChunk("m"), FakeOpenAI.ErrorChunk("server_error", "The server had an error")]));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a-first.json"] = TestGateway.OpenAIChannel(A.BaseUrl(), """ "priority": 0 """),
            ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(B.Received(), Has.Count.EqualTo(1));
    }
}
