using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// The one information line every API request ends with (RequestTelemetry): the request id the client was
/// given, the group, channel, status and tokens; the same for a refused key; never a key.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class RequestLogLineTests
{
    private const string Category = "CcxProxy.Telemetry.RequestTelemetry";
    private const string WrongKey = "ccx-wrong-key-0c44e1";
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["logged.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()),
    });

    [Test]
    public async Task AnsweredRequest_OneInformationLine_WithIdGroupChannelStatusAndTokens()
    {
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var line = await OneLineAsync(gateway, requestId);
        Assert.That(line, Does.StartWith($"Information {Category}: POST messages 200 in "));
        Assert.That(line, Does.Contain($"request {requestId} group default "));
        Assert.That(line, Does.Contain(" model claude-sonnet-4-6 channel logged attempts 1 "));
        // FakeAnthropic's default answer reports 10 input and 5 output tokens, no cache.
        Assert.That(line, Does.Contain(" tokens in 10 out 5 cache read 0 write 0 "));
        Assert.That(line, Does.Not.Contain("error authentication_error"));
        AssertNoSecrets(gateway);
    }

    [Test]
    public async Task WrongKey_OneInformationLine_WithAuthenticationError()
    {
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body, key: WrongKey));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var requestId = response.Headers.GetValues("x-request-id").Single();
        var line = await OneLineAsync(gateway, requestId);
        Assert.That(line, Does.StartWith($"Information {Category}: POST messages 401 in "));
        Assert.That(line, Does.Contain($"request {requestId} "));
        Assert.That(line, Does.Contain(" attempts 0 tokens in 0 out 0 "));
        Assert.That(line, Does.Contain("error authentication_error"));
        Assert.That(_upstream.Received(), Is.Empty);
        AssertNoSecrets(gateway);
    }

    [Test]
    public async Task SeveralRequests_OneLineEach()
    {
        await using var gateway = await GatewayAsync();

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            ids.Add(response.Headers.GetValues("x-request-id").Single());
        }

        Assert.That(ids.Distinct().Count(), Is.EqualTo(3), "every request has its own id");
        foreach (var id in ids)
        {
            await OneLineAsync(gateway, id);
        }

        await Poll.UntilAsync(() => RequestLines(gateway).Count == 3, "three request lines");
    }

    private static List<string> RequestLines(TestGateway gateway) =>
        [.. gateway.Logs.Lines.Where(l => l.StartsWith($"Information {Category}:", StringComparison.Ordinal))];

    /// <summary>Waits for the request's line (written as the request ends, maybe after the client has its answer), and checks it is the only one.</summary>
    private static async Task<string> OneLineAsync(TestGateway gateway, string requestId)
    {
        var line = await Poll.UntilAsync(() => RequestLines(gateway).FirstOrDefault(l => l.Contains(requestId, StringComparison.Ordinal)),
            $"the log line of {requestId}");
        Assert.That(gateway.Logs.Lines.Count(l => l.Contains($"request {requestId}", StringComparison.Ordinal) && l.Contains(Category, StringComparison.Ordinal)),
            Is.EqualTo(1), gateway.Logs.All);
        return line;
    }

    private static void AssertNoSecrets(TestGateway gateway)
    {
        Assert.That(gateway.Logs.All, Does.Not.Contain(TestGateway.AccessKey));
        Assert.That(gateway.Logs.All, Does.Not.Contain(FakeKeys.Upstream));
        Assert.That(gateway.Logs.All, Does.Not.Contain(WrongKey), "a presented key is a secret too, even a wrong one");
    }
}
