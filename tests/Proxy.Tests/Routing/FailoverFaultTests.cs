using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Failover around the faults WireMock cannot play, on the Kestrel fake: a connection reset before any answer and a
/// stream cut before its first content are retried invisibly on the next channel; a stream cut after content is
/// not (the client has it), and ends with an error event. The rest of failover is in <see cref="FailoverTests"/>.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class FailoverFaultTests : TwoUpstreams
{
    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a-first.json"] = TestGateway.AnthropicChannel(A.BaseUrl, """ "priority": 0, "timeouts": { "responseHeaders": 1, "idle": 1 } """),
        ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """),
    });

    private static string Body(bool stream = false) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    [Test]
    public async Task OnlyDestinationUnreachable_TwoKeys_TheCallerHearsWhatFailed_NotThatEverythingIsPaused()
    {
        // A refused connection is the destination's fault, and both keys share the one destination: after the first
        // attempt nothing is left to try. The answer says what happened (502, no connection), not "circuit open".
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = $$"""{ "type": "anthropic", "baseUrl": "{{FreePort.ClosedUrl()}}", "apiKeys": ["sk-a-first-key-0d1e", "sk-a-second-key-77c4"] }""",
        });

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway), json?.ToJsonString());
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("connection failed").And.Not.Contain("circuit open"));
        Assert.That(response.Headers.Contains("Retry-After"), Is.False);
    }

    [Test]
    public async Task FirstChannelResetsTheConnection_SecondAnswers_ClientSeesOneCleanAnswer()
    {
        A.Handler = (_, ctx) => Faults.AbortAsync(ctx);
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
    public async Task Stream_CutBeforeFirstContent_RetriedInvisibly()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, [FakeAnthropic.MessageStart("m"), FakeAnthropic.Ping(), StreamStep.Abort()], ctx.RequestAborted);
        await using var gateway = await GatewayAsync();

        await FailoverTests.AssertOneCleanStreamAsync(gateway);
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
}
