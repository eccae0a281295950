using System.Net;
using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using Microsoft.AspNetCore.Http;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// Upstream answers the gateway cannot hold or that break off: the client gets a 502 in its own shape saying
/// so, never a 200 with an empty body; with another candidate left, it answers instead.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class UpstreamAnswerTests
{
    private WireMockServer _huge = null!;
    private FakeUpstream _cutting = null!;
    private WireMockServer _spare = null!;

    [SetUp]
    public async Task SetUp()
    {
        _huge = WireMockUpstream.Start();
        _huge.Given(Request.Create().UsingAnyMethod())
            .RespondWith(Response.Create().WithJson(FakeAnthropic.Message("up", [FakeAnthropic.TextBlock(new string('x', 64 * 1024))])));
        // An answer broken off mid-way: the Kestrel fake, which WireMock cannot be.
        _cutting = await FakeUpstream.StartAsync();
        _cutting.Handler = (_, context) => CutAnswerAsync(context);
        _spare = WireMockUpstream.StartProvider();
    }

    [TearDown]
    public async Task TearDown()
    {
        _huge.Dispose();
        await _cutting.DisposeAsync();
        _spare.Dispose();
    }

    /// <summary>The upstream that misbehaves: one whose answer is too big, or one that breaks its answer off.</summary>
    private Uri Misbehaving(bool huge) => huge ? _huge.BaseUrl() : _cutting.BaseUrl;

    private static readonly Dictionary<string, string?> s_smallLimit = new() { ["Proxy:MaxResponseBodyBytes"] = "4096" };

    private static async Task CutAnswerAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = 10_000;
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes("""{"id":"msg_1","type":"message","content":[{"type":"text","text":"par"""));
        await context.Response.Body.FlushAsync();
        // Let the headers and the first bytes arrive before the connection is cut (a reset that overtakes them
        // would be a failure before headers, a different case).
        await Task.Delay(300);
        context.Abort();
    }

    [TestCase("/v1/messages", "larger than the gateway's limit of 4096 bytes", true)]
    [TestCase("/v1/chat/completions", "larger than the gateway's limit of 4096 bytes", true)]
    [TestCase("/v1/messages", "broke off", false)]
    [TestCase("/v1/chat/completions", "broke off", false)]
    public async Task OneCandidate_502InTheCallersShape(string path, string says, bool huge)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(Misbehaving(huge)) }, s_smallLimit);
        var chat = path.Contains("chat", StringComparison.Ordinal);
        var body = chat
            ? """{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}"""
            : """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

        var (response, json) = await gateway.SendAsync(gateway.Post(path, body, bearer: chat));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        if (chat)
        {
            ErrorAssert.OpenAI(response, json, HttpStatusCode.BadGateway, "server_error");
        }
        else
        {
            ErrorAssert.Anthropic(response, json, HttpStatusCode.BadGateway, "api_error");
        }

        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain(says));
        Assert.That(response.Headers.GetValues("x-request-id").Single(), Does.StartWith("req_"));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task AnotherCandidate_AnswersInstead(bool huge)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(Misbehaving(huge), """ "priority": 0 """),
            ["b.json"] = TestGateway.AnthropicChannel(_spare.BaseUrl(), """ "priority": 1 """),
        }, s_smallLimit);

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_spare.Received(), Has.Count.EqualTo(1));
    }
}
