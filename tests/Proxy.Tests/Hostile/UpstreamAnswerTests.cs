using System.Net;
using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// Upstream answers the gateway cannot hold or that break off: the client gets a 502 in its own shape saying
/// so, never a 200 with an empty body; with another candidate left, it answers instead. On the Kestrel fake: WireMock
/// cannot break an answer off mid-way.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class UpstreamAnswerTests
{
    private FakeUpstream _upstream = null!;
    private FakeUpstream _spare = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = await FakeUpstream.StartAsync();
        _spare = await FakeUpstream.StartAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        await _upstream.DisposeAsync();
        await _spare.DisposeAsync();
    }

    private static readonly Dictionary<string, string?> s_smallLimit = new() { ["Proxy:MaxResponseBodyBytes"] = "4096" };

    private static Task HugeAnswerAsync(HttpContext context) =>
        FakeAnthropic.WriteMessageAsync(context, "up", [FakeAnthropic.TextBlock(new string('x', 64 * 1024))]);

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
        _upstream.Handler = (_, context) => huge ? HugeAnswerAsync(context) : CutAnswerAsync(context);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl) }, s_smallLimit);
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
        _upstream.Handler = (_, context) => huge ? HugeAnswerAsync(context) : CutAnswerAsync(context);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl, """ "priority": 0 """),
            ["b.json"] = TestGateway.AnthropicChannel(_spare.BaseUrl, """ "priority": 1 """),
        }, s_smallLimit);

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_spare.Requests, Has.Count.EqualTo(1));
    }
}
