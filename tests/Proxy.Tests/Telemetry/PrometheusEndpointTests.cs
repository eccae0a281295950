using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// The Prometheus scrape, turned on with <c>Telemetry:PrometheusUrl</c>: served on its own management port and
/// only there (whatever Host header a caller writes on the public port), nothing else of the gateway on that
/// port, the gateway's metrics in it, and no secret.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class PrometheusEndpointTests
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    [Test]
    public async Task Scrape_OnTheManagementPortOnly_WithTheGatewaysMetrics_NoSecrets()
    {
        using var upstream = WireMockUpstream.StartProvider();
        var port = FreePort.Get();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Telemetry:PrometheusUrl"] = $"http://127.0.0.1:{port}" });
        using var management = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };

        var (answer, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var scrape = await Poll.UntilAsync(() =>
        {
            var text = management.GetStringAsync("/metrics").Result;
            return text.Contains("ccx_requests", StringComparison.Ordinal) ? text : null;
        }, "ccx_requests in the scrape");
        Assert.That(scrape, Does.Contain("gen_ai_server_request_duration"));
        Assert.That(scrape, Does.Not.Contain(TestGateway.AccessKey).And.Not.Contain(FakeKeys.Upstream));

        // Not on the public port, even when the caller names the management port in Host.
        using var onPublic = await gateway.Client.GetAsync("/metrics");
        var spoofed = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        spoofed.Headers.Host = $"127.0.0.1:{port}";
        using var spoofedAnswer = await gateway.Client.SendAsync(spoofed);
        Assert.That(onPublic.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(spoofedAnswer.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await spoofedAnswer.Content.ReadAsStringAsync(), Does.Not.Contain("ccx_requests"));

        // And nothing of the gateway on the management port.
        using var api = await management.PostAsync("/v1/messages", new StringContent(Body));
        using var status = await management.GetAsync("/status");
        Assert.That(api.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(status.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task PrometheusUrlWithoutAPort_StartUpFailsNamingTheSetting()
    {
        var failure = await Assert.CatchAsync(async () =>
            await (await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Telemetry:PrometheusUrl"] = "http://127.0.0.1" })).DisposeAsync());

        Assert.That(failure!.ToString(), Does.Contain("Telemetry:PrometheusUrl"));
    }
}
