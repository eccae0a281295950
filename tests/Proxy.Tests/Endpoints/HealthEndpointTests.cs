using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Endpoints;

/// <summary>
/// Liveness (<c>/livez</c>), readiness (<c>/readyz</c>: channels loaded, Redis when configured) and the
/// operator's <c>/status</c> page, which must show what is live and what was rejected without any secret.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class HealthEndpointTests
{
    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(),
                """ "headers": { "X-Secret-Header": "env:UPSTREAM_KEY", "X-Team": "platform-team-value" }"""),
            // Invalid: an unknown type. Rejected with a field-level error; the other channel stays live.
            ["broken.json"] = """{ "type": "cohere", "baseUrl": "http://127.0.0.1:9", "apiKeys": ["env:UPSTREAM_KEY"] }""",
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Fingerprint(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key))[..4]);

    private static async Task<(HttpResponseMessage Response, string Text, TimeSpan Elapsed)> GetAsync(TestGateway gateway, string path, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        var stopwatch = Stopwatch.StartNew();
        var response = await gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (response, text, stopwatch.Elapsed);
    }

    [Test]
    public async Task Livez_NoDependencies_200Ok()
    {
        var (response, text, _) = await GetAsync(_gateway, "/livez");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(text.Trim(), Is.EqualTo("ok"));
    }

    [Test]
    public async Task Readyz_ChannelsLoaded_200Ready()
    {
        var (response, text, _) = await GetAsync(_gateway, "/readyz");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var json = JsonNode.Parse(text)!;
        Assert.That(json["status"]!.GetValue<string>(), Is.EqualTo("ready"));
        Assert.That(json["channels"]!["loaded"]!.GetValue<bool>(), Is.True);
        Assert.That(json["channels"]!["count"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(json["channels"]!["rejected"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(json["redis"]!["configured"]!.GetValue<bool>(), Is.False);
    }

    [TestCase("/livez")]
    [TestCase("/readyz")]
    public async Task HealthEndpoints_NoKey_NotRefused(string path)
    {
        var (response, _, _) = await GetAsync(_gateway, path, key: null);

        Assert.That(response.StatusCode, Is.Not.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Status_NoKey_401()
    {
        var (response, text, _) = await GetAsync(_gateway, "/status");

        var json = JsonNode.Parse(text);
        ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(text, Does.Not.Contain("main.json"), "no channel details without a key");
    }

    [Test]
    public async Task Status_CallerKey_401_NoChannelDetails()
    {
        var (response, text, _) = await GetAsync(_gateway, "/status", TestGateway.AccessKey);

        ErrorAssert.Anthropic(response, JsonNode.Parse(text), HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(text, Does.Contain("admin key").And.Not.Contain("main.json"));
    }

    [Test]
    public async Task Status_AdminKeyNotConfigured_404()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Admin:AccessKey"] = "" });

        var (response, text, _) = await GetAsync(gateway, "/status", TestGateway.AccessKey);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), text);
    }

    [Test]
    public async Task Status_WrongKey_401()
    {
        var (response, text, _) = await GetAsync(_gateway, "/status", "ccx-not-a-key");

        ErrorAssert.Anthropic(response, JsonNode.Parse(text), HttpStatusCode.Unauthorized, "authentication_error");
    }

    [Test]
    public async Task Status_ListsChannelWithFileFingerprintsAndHeaderNames_NeverSecrets()
    {
        var (response, text, _) = await GetAsync(_gateway, "/status", TestGateway.AdminKey);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var json = JsonNode.Parse(text)!;
        var channel = json["channels"]!.AsArray().Single()!;
        Assert.That(channel["name"]!.GetValue<string>(), Is.EqualTo("main"));
        Assert.That(channel["file"]!.GetValue<string>(), Does.EndWith("main.json"));
        Assert.That(channel["type"]!.GetValue<string>(), Is.EqualTo("anthropic"));

        var keys = channel["keys"]!.AsArray().Select(k => k!.GetValue<string>()).ToArray();
        Assert.That(keys, Is.EqualTo(new[] { Fingerprint(FakeKeys.Upstream) }));
        Assert.That(keys.Single(), Does.Match("^[0-9a-f]{8}$"));

        var headers = channel["headers"]!.AsArray().Select(h => h!.GetValue<string>()).ToArray();
        Assert.That(headers, Is.EquivalentTo(new[] { "X-Secret-Header", "X-Team" }));

        // Neither the key (from apiKeys and from the header) nor any header value, nor the caller's key.
        Assert.That(text, Does.Not.Contain(FakeKeys.Upstream));
        Assert.That(text, Does.Not.Contain("platform-team-value"));
        Assert.That(text, Does.Not.Contain(TestGateway.AccessKey));
        ErrorAssert.NoSecrets(response, text, FakeKeys.Upstream, TestGateway.AccessKey);
    }

    [Test]
    public async Task Status_RejectedFile_ListedWithFieldLevelError()
    {
        var (response, text, _) = await GetAsync(_gateway, "/status", TestGateway.AdminKey);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var json = JsonNode.Parse(text)!;
        var rejected = json["rejected"]!.AsArray().Single()!;
        Assert.That(rejected["file"]!.GetValue<string>(), Does.EndWith("broken.json"));
        var error = rejected["errors"]!.AsArray().Single()!;
        Assert.That(error["field"]!.GetValue<string>(), Is.EqualTo("type"));
        Assert.That(error["message"]!.GetValue<string>(), Does.Contain("cohere"));
        Assert.That(json["channels"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()), Has.No.Member("broken"));
        Assert.That(text, Does.Not.Contain(FakeKeys.Upstream));
    }

    [Test]
    public void Status_RejectedFile_ErrorIsLogged()
    {
        // The rejection is logged as well as shown on /status (issue 2: "the rejection is logged").
        Assert.That(_gateway.Logs.Lines.Where(l => l.Contains("broken.json", StringComparison.Ordinal) && l.Contains("cohere", StringComparison.Ordinal)),
            Is.Not.Empty, _gateway.Logs.All);
        Assert.That(_gateway.Logs.All, Does.Not.Contain(FakeKeys.Upstream));
    }

    [Test]
    [Category("Redis")]
    public async Task Readyz_RedisConnected_200WithRedisConnected()
    {
        await using var redis = await RedisServer.StartAsync(TestContext.CurrentContext.CancellationToken).WaitAsync(TimeSpan.FromSeconds(20));
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString });

        // The connection is made in the background: poll for up to 10 s.
        var deadline = Stopwatch.StartNew();
        (HttpResponseMessage Response, string Text, TimeSpan Elapsed) last;
        do
        {
            last = await GetAsync(gateway, "/readyz");
            if (last.Response.StatusCode == HttpStatusCode.OK && JsonNode.Parse(last.Text)!["redis"]!["connected"]!.GetValue<bool>())
            {
                break;
            }

            await Task.Delay(100);
        }
        while (deadline.Elapsed < TimeSpan.FromSeconds(10));

        Assert.That(last.Response.StatusCode, Is.EqualTo(HttpStatusCode.OK), last.Text);
        var json = JsonNode.Parse(last.Text)!;
        Assert.That(json["status"]!.GetValue<string>(), Is.EqualTo("ready"));
        Assert.That(json["redis"]!["configured"]!.GetValue<bool>(), Is.True);
        Assert.That(json["redis"]!["connected"]!.GetValue<bool>(), Is.True);

        var (status, statusText, _) = await GetAsync(gateway, "/status", TestGateway.AdminKey);
        Assert.That(status.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(JsonNode.Parse(statusText)!["redis"]!["connected"]!.GetValue<bool>(), Is.True);
    }

    [Test]
    [Category("Redis")]
    public async Task Readyz_RedisUnreachable_StillReadyQuickly_RedisReportedDown()
    {
        // A plain host:port, as an operator would write it: no short timeouts to help the gateway.
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Redis:Configuration"] = $"127.0.0.1:{FreePort.Get()}" });

        var (response, text, elapsed) = await GetAsync(gateway, "/readyz");

        Assert.That(elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "readiness must not block on Redis");
        // Limits fail open to memory while Redis is away, so a replica stays in service (issue 4).
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var json = JsonNode.Parse(text)!;
        Assert.That(json["status"]!.GetValue<string>(), Is.EqualTo("ready"));
        Assert.That(json["channels"]!["loaded"]!.GetValue<bool>(), Is.True);
        Assert.That(json["redis"]!["configured"]!.GetValue<bool>(), Is.True);
        Assert.That(json["redis"]!["connected"]!.GetValue<bool>(), Is.False);

        var (again, _, againElapsed) = await GetAsync(gateway, "/readyz");
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(againElapsed, Is.LessThan(TimeSpan.FromSeconds(5)));

        var (live, _, liveElapsed) = await GetAsync(gateway, "/livez");
        Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK), "liveness depends on nothing");
        Assert.That(liveElapsed, Is.LessThan(TimeSpan.FromSeconds(5)));

        // Nothing Redis-backed exists yet: requests are still served, and promptly.
        var stopwatch = Stopwatch.StartNew();
        var (message, messageJson) = await gateway.SendAsync(gateway.Post("/v1/messages",
            """{"model":"claude-opus-4-7","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}"""));
        Assert.That(message.StatusCode, Is.EqualTo(HttpStatusCode.OK), () => messageJson?.ToJsonString() ?? "");
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }
}
