using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Failover before anything reaches the client: each upstream fault on the first (preferred) channel, and
/// the request answered by the second, with the client seeing one clean answer; the client's own mistakes
/// are never retried; when every candidate fails, the last failure is what the client sees.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class FailoverTests : TwoUpstreams
{
    private Task<TestGateway> GatewayAsync(Uri? firstUrl = null) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a-first.json"] = TestGateway.AnthropicChannel(firstUrl ?? A.BaseUrl, """ "priority": 0, "timeouts": { "responseHeaders": 1, "idle": 1 } """),
        ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """),
    });

    private static string Body(bool stream = false) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    public static IEnumerable<TestCaseData> RetryableFaults()
    {
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => FakeAnthropic.WriteErrorAsync(ctx, 529, "overloaded_error", "Overloaded"))).SetArgDisplayNames("529");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => FakeAnthropic.WriteErrorAsync(ctx, 500, "api_error", "boom"))).SetArgDisplayNames("500");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => Faults.HtmlErrorAsync(ctx, 502))).SetArgDisplayNames("502 html");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => Faults.HtmlErrorAsync(ctx, 503))).SetArgDisplayNames("503");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => FakeAnthropic.WriteErrorAsync(ctx, 429, "rate_limit_error", "slow down"))).SetArgDisplayNames("429");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => FakeAnthropic.WriteErrorAsync(ctx, 401, "authentication_error", "invalid x-api-key"))).SetArgDisplayNames("401 channel key refused");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => FakeAnthropic.WriteErrorAsync(ctx, 403, "permission_error", "key disabled"))).SetArgDisplayNames("403 channel key refused");
        yield return new TestCaseData((Func<HttpContext, Task>)(ctx => Faults.StatusAsync(ctx, 200, "", "application/json"))).SetArgDisplayNames("empty 200");
        yield return new TestCaseData((Func<HttpContext, Task>)Faults.HangAsync).SetArgDisplayNames("no headers in time");
        yield return new TestCaseData((Func<HttpContext, Task>)Faults.AbortAsync).SetArgDisplayNames("connection reset");
    }

    [TestCaseSource(nameof(RetryableFaults))]
    public async Task FirstChannelFails_SecondAnswers_ClientSeesOneCleanAnswer(Func<HttpContext, Task> fault)
    {
        A.Handler = (_, ctx) => fault(ctx);
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(A.Requests, Has.Count.EqualTo(1));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
        Assert.That(gateway.Logs.All, Does.Contain("trying channel b-second"));
        Assert.That(response.Headers.GetValues("x-request-id").Single(), Does.Match("^req_[0-9a-f]{24}$"), "the gateway's own headers survive the failover");
    }

    [Test]
    public async Task FirstChannelRefusesConnections_SecondAnswers()
    {
        await using var gateway = await GatewayAsync(FreePort.ClosedUrl());

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Streaming_FirstChannelOverloaded_StreamComesFromSecond_OneMessageStart()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteErrorAsync(ctx, 529, "overloaded_error", "Overloaded");
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(string.Concat(events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!["text"]!.GetValue<string>())),
            Is.EqualTo(FakeUpstreamOptions.DefaultText));
    }

    [TestCase(400, "invalid_request_error")]
    [TestCase(404, "not_found_error")]
    [TestCase(413, "request_too_large")]
    public async Task ClientMistake_NotRetried_ClientSeesTheError(int status, string type)
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteErrorAsync(ctx, status, type, "your request is wrong");
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That((int)response.StatusCode, Is.EqualTo(status));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo(type));
        Assert.That(B.Requests, Is.Empty);
    }

    [Test]
    public async Task EveryCandidateFails_LastFailureReachesTheClient()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteErrorAsync(ctx, 500, "api_error", "first broke");
        B.Handler = (_, ctx) => FakeAnthropic.WriteErrorAsync(ctx, 529, "overloaded_error", "second overloaded");
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That((int)response.StatusCode, Is.EqualTo(529));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Is.EqualTo("second overloaded"));
        Assert.That(A.Requests, Has.Count.EqualTo(1));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
    }

    public static IEnumerable<TestCaseData> StreamFaultsBeforeContent()
    {
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m"), FakeAnthropic.Error("overloaded_error", "Overloaded")])
            .SetArgDisplayNames("error event before content");
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m"), FakeAnthropic.Ping(), StreamStep.Abort()])
            .SetArgDisplayNames("cut before content");
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m")])
            .SetArgDisplayNames("ends before content");
        yield return new TestCaseData((IEnumerable<StreamStep>)[FakeAnthropic.MessageStart("m"), StreamStep.Delay(TimeSpan.FromSeconds(5))])
            .SetArgDisplayNames("silent before content");
    }

    [TestCaseSource(nameof(StreamFaultsBeforeContent))]
    public async Task Stream_FailsBeforeFirstContent_RetriedInvisibly(IEnumerable<StreamStep> steps)
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, steps, ctx.RequestAborted);
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1), "one clean answer");
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Stream_CutAfterContent_NotRetried_ClientGetsErrorEvent()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
            [FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "partial"), StreamStep.Abort()], ctx.RequestAborted);
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(events.Select(e => e.Type), Does.Contain("content_block_delta"));
        Assert.That(events.Last().Type, Is.EqualTo("error"));
        Assert.That(B.Requests, Is.Empty, "committed to the first channel at its first content");
    }

    [Test]
    public async Task OpenAIChannelStream_ErrorChunkBeforeContent_FailsOverToTheNextChannel()
    {
        A.Handler = (_, ctx) => FakeOpenAI.WriteChatStreamAsync(ctx,
            [FakeOpenAI.RoleChunk("m"), FakeOpenAI.ErrorChunk("server_error", "The server had an error")], ctx.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a-first.json"] = TestGateway.OpenAIChannel(A.BaseUrl, """ "priority": 0 """),
            ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
    }
}
