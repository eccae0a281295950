using System.Net;
using CcxProxy.Tests.Routing;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Hosting;

/// <summary>
/// <c>Proxy:InlineIoScheduling</c> runs request code on Kestrel's socket threads: every kind of answer still arrives
/// whole, streams included, and many at once (nothing on the path blocks the thread it runs on).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class InlineIoSchedulingTests
{
    private const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
    private WireMockServer _upstream = null!;
    private string? _variable;

    [SetUp]
    public void SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        // The gateway sets it for its own process; this test process must not hand it to child processes of later tests.
        _variable = Environment.GetEnvironmentVariable(Variable);
    }

    [TearDown]
    public void TearDown()
    {
        _upstream.Dispose();
        Environment.SetEnvironmentVariable(Variable, _variable);
    }

    [Test]
    public async Task Inline_StreamsAndAnswers_ArriveWhole_ManyAtOnce()
    {
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["a.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Proxy:InlineIoScheduling"] = "true" });

        var streams = Enumerable.Range(0, 20).Select(_ => UpstreamFaultTests.StreamAsync(gateway)).ToArray();
        var (answer, json) = await gateway.SendAsync(gateway.Post("/v1/messages",
            """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.Not.Empty);
        foreach (var (status, events) in await Task.WhenAll(streams))
        {
            UpstreamFaultTests.AssertOneCleanAnswer(status, events);
        }

        Assert.That(Environment.GetEnvironmentVariable(Variable), Is.EqualTo(_variable ?? "1"), "the runtime's half is asked for, unless the operator set it");
    }
}
