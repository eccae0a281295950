using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Routing;
using CcxProxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// One caller cannot open a breaker every caller shares: requests whose content makes the upstream fail (a 500,
/// a reset) fail over one by one, and the channel stays open to everyone else; an outage that two callers see
/// still opens it after the usual number of failures (default settings: 5 in a row). On the Kestrel fake: WireMock
/// cannot reset a connection.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SharedBreakerTests : TwoUpstreams
{
    private static string Body(string text) => $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"{{text}}"}]}""";

    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl, """ "priority": 0 """),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """),
    });

    private static async Task SendOkAsync(TestGateway gateway, string text, string key)
    {
        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(text), key: key));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
    }

    private static Func<RecordedRequest, HttpContext, Task> FailWhenPoisoned(FakeUpstream upstream, bool reset) => (request, context) =>
    {
        if (!request.Body.Contains("POISON", StringComparison.Ordinal))
        {
            return upstream.DefaultHandler(request, context);
        }

        if (reset)
        {
            context.Abort();
            return Task.CompletedTask;
        }

        return FakeAnthropic.WriteErrorAsync(context, 500, "api_error", "the model crashed on this prompt");
    };

    [TestCase(false, TestName = "OneCallersPoisonRequests_500s_ChannelStaysOpenForOthers")]
    [TestCase(true, TestName = "OneCallersPoisonRequests_Resets_ChannelStaysOpenForOthers")]
    public async Task OneCallersPoisonRequests_ChannelStaysOpenForOthers(bool reset)
    {
        A.Handler = FailWhenPoisoned(A, reset);
        await using var gateway = await GatewayAsync();

        for (var i = 0; i < 8; i++)
        {
            await SendOkAsync(gateway, "POISON " + i, TestGateway.AccessKey);
        }

        Assert.That(A.Requests, Has.Count.EqualTo(8), "every poison request still tried the preferred channel first");
        Assert.That(B.Requests, Has.Count.EqualTo(8), "and failed over, invisibly");

        await SendOkAsync(gateway, "an ordinary question", TestGateway.SecondAccessKey);
        Assert.That(A.Requests, Has.Count.EqualTo(9), "another caller still reaches the preferred channel");
        Assert.That(B.Requests, Has.Count.EqualTo(8));
    }

    [Test]
    public async Task OutageSeenByTwoCallers_OpensAfterFiveFailures()
    {
        A.Handler = (_, context) => FakeAnthropic.WriteErrorAsync(context, 500, "api_error", "down");
        await using var gateway = await GatewayAsync();

        for (var i = 0; i < 10; i++)
        {
            await SendOkAsync(gateway, "hello " + i, i % 2 == 0 ? TestGateway.AccessKey : TestGateway.SecondAccessKey);
        }

        Assert.That(A.Requests, Has.Count.EqualTo(5), "open after five failures in a row from two callers");
        Assert.That(B.Requests, Has.Count.EqualTo(10));
    }
}
