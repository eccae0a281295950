using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// Upstreams that echo the request's headers (the channel's key, the channel's own header values) in what they
/// answer: the caller never sees those secrets, whatever the protocol pair, in an error body, an error event in a
/// stream or an answer.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class UpstreamSecretsTests
{
    private const string ChannelToken = "gw-token-5d1f0a77c2";

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _upstream = WireMockUpstream.Start();
        var headers = $$""" "headers": { "X-Gateway-Token": "{{ChannelToken}}" } """;
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["anthropic.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), headers + """, "models": ["claude-*"] """),
            ["openai.json"] = TestGateway.OpenAIChannel(_upstream.BaseUrl(), headers + """, "models": ["gpt-*"] """),
        });
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    /// <summary>Each test maps the one answer it needs.</summary>
    [SetUp]
    public void SetUp() => _upstream.ResetMappings();

    private void Answer(Func<RecordedRequest, StockAnswer> answer)
        => _upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(answer));

    private static string Echo(RecordedRequest request) =>
        $"invalid request; headers were: x-api-key={request.Header("x-api-key")} authorization={request.Header("authorization")} x-gateway-token={request.Header("x-gateway-token")}";

    private static IEnumerable<TestCaseData> Routes()
    {
        yield return new TestCaseData("/v1/messages", "claude-sonnet-4-6").SetName("{m}(anthropic passthrough)");
        yield return new TestCaseData("/v1/messages", "gpt-4o").SetName("{m}(anthropic to openai)");
        yield return new TestCaseData("/v1/chat/completions", "gpt-4o").SetName("{m}(openai passthrough)");
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6").SetName("{m}(openai to anthropic)");
    }

    private static string Body(string path, string model, bool stream = false) => path.Contains("chat", StringComparison.Ordinal)
        ? $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}"""
        : $$"""{"model":"{{model}}","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private static void AssertNoSecret(string text)
    {
        Assert.That(text, Does.Not.Contain(FakeKeys.Upstream).And.Not.Contain(ChannelToken));
        Assert.That(text, Does.Contain("[redacted]"), "the echo itself still reaches the caller, without the secrets");
    }

    [TestCaseSource(nameof(Routes))]
    public async Task ErrorBodyEchoingHeaders_Scrubbed(string path, string model)
    {
        Answer(request => StockAnswer.OfJson(400, request.Path.Contains("chat", StringComparison.Ordinal)
            ? FakeOpenAI.ErrorBody("invalid_request_error", Echo(request))
            : FakeAnthropic.ErrorBody("invalid_request_error", Echo(request))));

        using var response = await _gateway.Client.SendAsync(_gateway.Post(path, Body(path, model), bearer: path.Contains("chat", StringComparison.Ordinal)));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
        AssertNoSecret(text);
    }

    [TestCaseSource(nameof(Routes))]
    public async Task ErrorEventInStreamEchoingHeaders_Scrubbed(string path, string model)
    {
        Answer(request => StockAnswer.OfStream(request.Path.Contains("chat", StringComparison.Ordinal)
            ? [FakeOpenAI.TextChunk("partial"), StreamStep.DataOnly("{\"error\":{\"message\":\"" + Echo(request) + "\",\"type\":\"server_error\"}}")]
            : [FakeAnthropic.MessageStart("up"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "partial"), FakeAnthropic.Error("api_error", Echo(request))]));

        using var response = await _gateway.Client.SendAsync(_gateway.Post(path, Body(path, model, stream: true), bearer: path.Contains("chat", StringComparison.Ordinal)));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(text, Does.Contain("partial"));
        AssertNoSecret(text);
    }

    [TestCase("/v1/messages", "claude-sonnet-4-6")]
    [TestCase("/v1/chat/completions", "gpt-4o")]
    public async Task AnswerEchoingHeaders_Scrubbed(string path, string model)
    {
        Answer(request => StockAnswer.OfJson(200, request.Path.Contains("chat", StringComparison.Ordinal)
            ? FakeOpenAI.ChatCompletion("up", Echo(request))
            : FakeAnthropic.Message("up", [FakeAnthropic.TextBlock(Echo(request))])));

        using var response = await _gateway.Client.SendAsync(_gateway.Post(path, Body(path, model), bearer: path.Contains("chat", StringComparison.Ordinal)));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        AssertNoSecret(text);
    }
}
