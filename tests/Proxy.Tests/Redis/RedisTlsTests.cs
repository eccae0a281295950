using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using CcxProxy.Tests.Telemetry;
using WireMock.Server;

namespace CcxProxy.Tests.Redis;

/// <summary>
/// Redis over TLS, as managed Redis services serve it: a redis-server that speaks only TLS (<c>--tls-port</c>),
/// with a certificate naming only <c>localhost</c> from a CA the system does not trust. With <c>ssl=true</c>
/// and <c>Redis:CaCertificate</c> two gateways share their limits through it; without the CA, or under a name
/// the certificate does not hold, the connection is refused (and limits fail open, as documented).
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(60_000)]
public sealed class RedisTlsTests
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private TestCertificateAuthority _ca = null!;
    private RedisServer _redis = null!;
    private WireMockServer _upstream = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _ca = TestCertificateAuthority.Create("managed redis CA");
        _redis = await RedisServer.StartTlsAsync(_ca);
        _upstream = WireMockUpstream.StartProvider();
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        _upstream.Dispose();
        await _redis.DisposeAsync();
        _ca.Dispose();
    }

    private Task<TestGateway> GatewayAsync(string configuration, string? caFile) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()),
        ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 3}}}}""",
    }, new Dictionary<string, string?>
    {
        ["Redis:Configuration"] = configuration,
        ["Redis:CaCertificate"] = caFile,
        ["Limits:RedisTimeoutMilliseconds"] = "5000",
    });

    private static async Task<bool> RedisConnectedAsync(TestGateway gateway) =>
        JsonNode.Parse(await gateway.Client.GetStringAsync("/readyz"))!["redis"]!["connected"]!.GetValue<bool>();

    [Test]
    public async Task TwoGateways_SharingTlsRedis_ShareOneLimit()
    {
        await _redis.CommandAsync("FLUSHALL");
        await using var first = await GatewayAsync(_redis.ConnectionString, _ca.PemPath);
        await using var second = await GatewayAsync(_redis.ConnectionString, _ca.PemPath);
        await Poll.UntilAsync(() => RedisConnectedAsync(first).Result && RedisConnectedAsync(second).Result, "both gateways connected to Redis over TLS");

        var statuses = new List<HttpStatusCode>();
        foreach (var gateway in new[] { first, second, first, second })
        {
            var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            statuses.Add(response.StatusCode);
        }

        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests }),
            "three requests a minute for the group, counted once across both gateways");
        Assert.That(await _redis.CommandAsync("DBSIZE"), Is.Not.EqualTo("0"), "the counters live in the TLS Redis");
    }

    [Test]
    public async Task CaNotTrusted_NotConnected_RequestsStillServed()
    {
        await using var gateway = await GatewayAsync(_redis.ConnectionString, caFile: null);

        var line = await Poll.UntilAsync(() => gateway.Logs.Lines.FirstOrDefault(l => l.Contains("TLS certificate was refused", StringComparison.Ordinal)), "the refusal in the log");
        Assert.That(line, Does.Contain("RemoteCertificateChainErrors").And.Contain("not trusted"));
        Assert.That(await RedisConnectedAsync(gateway), Is.False, "a certificate from an unknown CA is refused");
        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "limits fail open while Redis is unreachable (Limits:OnRedisFailure)");
    }

    [Test]
    public async Task HostTheCertificateDoesNotName_Refused_LogSaysWhy()
    {
        var byAddress = _redis.ConnectionString.Replace("localhost:", "127.0.0.1:", StringComparison.Ordinal);
        await using var gateway = await GatewayAsync(byAddress, _ca.PemPath);

        var line = await Poll.UntilAsync(() => gateway.Logs.Lines.FirstOrDefault(l => l.Contains("TLS certificate was refused", StringComparison.Ordinal)), "the refusal in the log");
        Assert.That(line, Does.Contain("RemoteCertificateNameMismatch"));
        Assert.That(await RedisConnectedAsync(gateway), Is.False);
    }

    [Test]
    public async Task CaFileMissing_GatewayRefusesToStart_NamingTheSetting()
    {
        var missing = Path.Combine(Path.GetTempPath(), "ccx-no-such-ca-" + Guid.NewGuid().ToString("N") + ".pem");

        var failure = await Assert.CatchAsync(async () => await (await GatewayAsync(_redis.ConnectionString, missing)).DisposeAsync());

        Assert.That(failure!.ToString(), Does.Contain("Redis:CaCertificate"));
    }
}
