using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Access;

/// <summary>
/// Behind an ingress: the failed-authentication throttle keys on the client address from
/// <c>X-Forwarded-For</c>, but only when the connection comes from a trusted network; otherwise a client
/// could name any address and escape the throttle, or lock another client out.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class ForwardedHeadersTests
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private static async Task<TestGateway> GatewayAsync(WireMockServer upstream, string? trusted) => await TestGateway.StartAsync(
        new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) },
        new Dictionary<string, string?> { ["Access:MaxFailedAuthPerMinute"] = "2", ["ForwardedHeaders:TrustedNetworks"] = trusted });

    private static HttpRequestMessage From(TestGateway gateway, string clientAddress, string? key = TestGateway.AccessKey)
    {
        var request = gateway.Post("/v1/messages", Body, key: key);
        request.Headers.Add("X-Forwarded-For", clientAddress);
        return request;
    }

    private static async Task ExhaustAsync(TestGateway gateway, string clientAddress)
    {
        for (var i = 0; i < 2; i++)
        {
            var (bad, _) = await gateway.SendAsync(From(gateway, clientAddress, key: $"guess-{i}"));
            Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }
    }

    [TestCase("127.0.0.0/8")]
    [TestCase("10.0.0.0/8, 127.0.0.1")]
    public async Task TrustedIngress_ThrottleKeysOnTheForwardedClient(string trusted)
    {
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await GatewayAsync(upstream, trusted);

        await ExhaustAsync(gateway, "203.0.113.7");
        var (guesser, _) = await gateway.SendAsync(From(gateway, "203.0.113.7"));
        var (neighbour, _) = await gateway.SendAsync(From(gateway, "198.51.100.20"));

        Assert.That(guesser.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "the guessing client is throttled");
        Assert.That(neighbour.StatusCode, Is.EqualTo(HttpStatusCode.OK), "another client behind the same ingress is not");
    }

    [TestCase(null)]
    [TestCase("10.0.0.0/8")]
    public async Task UntrustedConnection_ForwardedHeaderIgnored(string? trusted)
    {
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await GatewayAsync(upstream, trusted);

        // The test client connects from 127.0.0.1, which is not trusted: naming another address changes nothing.
        await ExhaustAsync(gateway, "203.0.113.7");
        var (renamed, _) = await gateway.SendAsync(From(gateway, "198.51.100.20"));

        Assert.That(renamed.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
    }

    [Test]
    public async Task BadNetwork_StartUpFailsNamingTheSetting()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            using var upstream = WireMockUpstream.StartProvider();
            await using var gateway = await GatewayAsync(upstream, "10.0.0.0/8, ingress-pods");
        });

        Assert.That(error!.Message, Does.Contain("ForwardedHeaders:TrustedNetworks").And.Contain("ingress-pods"));
    }
}
