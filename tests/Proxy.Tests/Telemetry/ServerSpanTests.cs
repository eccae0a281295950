using System.Diagnostics;
using System.Net;
using CcxProxy.Tests.Routing;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// The request's trace: ASP.NET Core's server span carries the request's outcome (channel, attempts, group,
/// requested and upstream model, tokens, request id), with one "upstream attempt" child per attempt.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ServerSpanTests : TwoProviders
{
    private const string Model = "claude-sonnet-4-6";
    private const string FailoverModel = "claude-sonnet-span-failover-3e7a";
    private const string MappedModel = "b-upstream-sonnet";

    private static string Body(string model = Model, bool stream = false) =>
        $$"""{"model":"{{model}}","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl(), """ "priority": 0 """),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), $$""" "priority": 1, "modelMapping": { "{{FailoverModel}}": "{{MappedModel}}" } """),
    });

    [Test]
    public async Task FirstChannelFails_ServerSpanTellsTheOutcome_OneChildPerAttempt()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "boom"));
        using var spans = new SpanRecorder(SpanRecorder.AspNetCore, SpanRecorder.Gateway);
        await using var gateway = await GatewayAsync();

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(FailoverModel)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        // The answer that came after a failover still carries the request id, and the span has the same.
        var server = await spans.ServerSpanAsync(response.Headers.GetValues("x-request-id").Single());
        Assert.Multiple(() =>
        {
            Assert.That(server.Kind, Is.EqualTo(ActivityKind.Server));
            Assert.That(server.GetTagItem("ccx.request_id") as string, Does.Match("^req_[0-9a-f]{24}$"));
            Assert.That(server.GetTagItem("gen_ai.request.model"), Is.EqualTo(FailoverModel));
            Assert.That(server.GetTagItem("ccx.channel"), Is.EqualTo("b"));
            Assert.That(server.GetTagItem("ccx.attempts"), Is.EqualTo(2));
            Assert.That(server.GetTagItem("ccx.group"), Is.EqualTo("default"));
            Assert.That(server.GetTagItem("ccx.key_id"), Is.Not.Null.And.Not.Empty);
            Assert.That(server.GetTagItem("ccx.stream"), Is.EqualTo(false));
            Assert.That(server.GetTagItem("gen_ai.request.model"), Is.EqualTo(FailoverModel));
            Assert.That(server.GetTagItem("gen_ai.response.model"), Is.EqualTo(MappedModel));
            // FakeAnthropic's default answer reports 10 input and 5 output tokens.
            Assert.That(server.GetTagItem("gen_ai.usage.input_tokens"), Is.EqualTo(10));
            Assert.That(server.GetTagItem("gen_ai.usage.output_tokens"), Is.EqualTo(5));
            Assert.That(server.GetTagItem("error.type"), Is.Null, "the request succeeded in the end");
            Assert.That(server.GetTagItem("ccx.outcome"), Is.EqualTo("success"));
            Assert.That(server.Status, Is.Not.EqualTo(ActivityStatusCode.Error));
        });

        // The children stopped before their parent did.
        var attempts = spans.ChildrenOf(server, "upstream attempt");
        Assert.That(attempts, Has.Count.EqualTo(2), string.Join(", ", attempts.Select(a => a.GetTagItem("ccx.channel"))));
        var (first, second) = (attempts[0], attempts[1]);
        Assert.Multiple(() =>
        {
            Assert.That(first.Source.Name, Is.EqualTo("CcxProxy"));
            Assert.That(first.GetTagItem("ccx.channel"), Is.EqualTo("a"));
            Assert.That(first.GetTagItem("ccx.attempt"), Is.EqualTo(1));
            Assert.That(first.GetTagItem("error.type"), Is.EqualTo("server_error"));
            Assert.That(first.GetTagItem("ccx.failed_over"), Is.EqualTo(true));
            Assert.That(first.GetTagItem("gen_ai.request.model"), Is.EqualTo(FailoverModel), "channel a maps nothing");
            Assert.That(first.Status, Is.EqualTo(ActivityStatusCode.Error));

            Assert.That(second.GetTagItem("ccx.channel"), Is.EqualTo("b"));
            Assert.That(second.GetTagItem("ccx.attempt"), Is.EqualTo(2));
            Assert.That(second.GetTagItem("error.type"), Is.Null);
            Assert.That(second.GetTagItem("ccx.failed_over"), Is.EqualTo(false));
            Assert.That(second.GetTagItem("gen_ai.request.model"), Is.EqualTo(MappedModel));
            Assert.That(second.GetTagItem("server.address"), Is.EqualTo(B.BaseUrl().Host), "the host the channel names");
            Assert.That(second.GetTagItem("ccx.probe"), Is.EqualTo(false));
            Assert.That(second.GetTagItem("ccx.key_fingerprint") as string, Does.Match("^[0-9a-f]{8}$"));
            Assert.That(second.Status, Is.Not.EqualTo(ActivityStatusCode.Error));
        });
        AssertNoSecrets([server, .. attempts]);
    }

    [Test]
    public async Task Stream_ServerSpanHasStreamTagAndStreamedUsage()
    {
        using var spans = new SpanRecorder(SpanRecorder.AspNetCore, SpanRecorder.Gateway);
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var server = await spans.ServerSpanAsync(requestId);
        Assert.Multiple(() =>
        {
            Assert.That(server.GetTagItem("ccx.request_id"), Is.EqualTo(requestId));
            Assert.That(server.GetTagItem("ccx.stream"), Is.EqualTo(true));
            Assert.That(server.GetTagItem("gen_ai.request.model"), Is.EqualTo(Model));
            Assert.That(server.GetTagItem("gen_ai.response.model"), Is.EqualTo(Model), "channel a maps nothing");
            Assert.That(server.GetTagItem("ccx.channel"), Is.EqualTo("a"));
            Assert.That(server.GetTagItem("ccx.attempts"), Is.EqualTo(1));
            // The default stream: message_start reports 10 input tokens, message_delta 20 output tokens (one per text delta).
            Assert.That(server.GetTagItem("gen_ai.usage.input_tokens"), Is.EqualTo(10));
            Assert.That(server.GetTagItem("gen_ai.usage.output_tokens"), Is.EqualTo(20));
        });
        Assert.That(spans.ChildrenOf(server, "upstream attempt"), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task BadKey_ServerSpanHasAuthenticationError_NoAttempt()
    {
        using var spans = new SpanRecorder(SpanRecorder.AspNetCore, SpanRecorder.Gateway);
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(), key: "ccx-not-a-key-5d1e"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var server = await spans.ServerSpanAsync(response.Headers.GetValues("x-request-id").Single());
        Assert.Multiple(() =>
        {
            Assert.That(server.GetTagItem("error.type"), Is.EqualTo("authentication_error"));
            Assert.That(server.GetTagItem("ccx.outcome"), Is.EqualTo("authentication_error"));
            Assert.That(server.GetTagItem("ccx.group"), Is.Null);
            Assert.That(server.GetTagItem("ccx.attempts"), Is.EqualTo(0));
            // A client's mistake is not a server error (OpenTelemetry HTTP semantic conventions: 4xx leaves server spans unset).
            Assert.That(server.Status, Is.Not.EqualTo(ActivityStatusCode.Error));
        });
        Assert.That(spans.ChildrenOf(server, "upstream attempt"), Is.Empty);
        Assert.That(A.Received(), Is.Empty);
        AssertNoSecrets([server]);
    }

    private static void AssertNoSecrets(IEnumerable<Activity> activities)
    {
        foreach (var activity in activities)
        {
            foreach (var (name, value) in activity.TagObjects)
            {
                var text = Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                Assert.That(text, Does.Not.Contain(TestGateway.AccessKey).And.Not.Contain(FakeKeys.Upstream).And.Not.Contain("ccx-not-a-key-5d1e"),
                    $"{activity.OperationName} tag {name}");
            }
        }
    }
}
