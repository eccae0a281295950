using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Routing;
using CcxProxy.Tests.Support;
using WireMock.Matchers;
using WireMock.RequestBuilders;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// One caller cannot open a breaker every caller shares: requests whose content makes the upstream fail (a 500,
/// a reset) fail over one by one, and the channel stays open to everyone else; an outage that two callers see
/// still opens it after the usual number of failures (default settings: 5 in a row).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SharedBreakerTests : TwoProviders
{
    private static string Body(string text) => $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"{{text}}"}]}""";

    private Task<TestGateway> GatewayAsync(Uri preferred) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(preferred, """ "priority": 0 """),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
    });

    private static async Task SendOkAsync(TestGateway gateway, string text, string key)
    {
        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(text), key: key));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
    }

    [Test]
    public async Task OneCallersPoisonRequests_500s_ChannelStaysOpenForOthers()
    {
        A.Given(Request.Create().WithBody(new WildcardMatcher("*POISON*")))
            .RespondWith(WireMockUpstream.AnthropicError(500, "api_error", "the model crashed on this prompt"));

        await PoisonThenOrdinaryAsync(A.BaseUrl(), () => A.Received().Count);
    }

    [Test]
    public async Task OneCallersPoisonRequests_Resets_ChannelStaysOpenForOthers()
    {
        // A reset: the Kestrel fake, which WireMock cannot be.
        await using var resetting = await FakeUpstream.StartAsync();
        resetting.Handler = (request, context) =>
        {
            if (!request.Body.Contains("POISON", StringComparison.Ordinal))
            {
                return resetting.DefaultHandler(request, context);
            }

            context.Abort();
            return Task.CompletedTask;
        };

        await PoisonThenOrdinaryAsync(resetting.BaseUrl, () => resetting.Requests.Count);
    }

    /// <summary>Eight poison requests from one caller, then an ordinary one from another, with <paramref name="preferred"/> first.</summary>
    private async Task PoisonThenOrdinaryAsync(Uri preferred, Func<int> preferredCalls)
    {
        await using var gateway = await GatewayAsync(preferred);

        for (var i = 0; i < 8; i++)
        {
            await SendOkAsync(gateway, "POISON " + i, TestGateway.AccessKey);
        }

        Assert.That(preferredCalls(), Is.EqualTo(8), "every poison request still tried the preferred channel first");
        Assert.That(B.Received(), Has.Count.EqualTo(8), "and failed over, invisibly");

        await SendOkAsync(gateway, "an ordinary question", TestGateway.SecondAccessKey);
        Assert.That(preferredCalls(), Is.EqualTo(9), "another caller still reaches the preferred channel");
        Assert.That(B.Received(), Has.Count.EqualTo(8));
    }

    [Test]
    public async Task OutageSeenByTwoCallers_OpensAfterFiveFailures()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "down"));
        await using var gateway = await GatewayAsync(A.BaseUrl());

        for (var i = 0; i < 10; i++)
        {
            await SendOkAsync(gateway, "hello " + i, i % 2 == 0 ? TestGateway.AccessKey : TestGateway.SecondAccessKey);
        }

        Assert.That(A.Received(), Has.Count.EqualTo(5), "open after five failures in a row from two callers");
        Assert.That(B.Received(), Has.Count.EqualTo(10));
    }
}
