using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// The ops surfaces are for ops: /status and /admin/* take the admin key only, guesses at it are throttled like
/// guesses at caller keys, someone guessing from a shared address does not lock out the valid keys used from
/// there, and usage queries the store cannot answer whole are refused rather than cut.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class OpsSurfaceTests
{
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    private Task<TestGateway> GatewayAsync(int maxFailures = 3) => TestGateway.StartAsync(
        new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
        new Dictionary<string, string?> { ["Access:MaxFailedAuthPerMinute"] = maxFailures.ToString(System.Globalization.CultureInfo.InvariantCulture) });

    private static HttpRequestMessage Get(string path, string? key)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        return request;
    }

    [TestCase("/status")]
    [TestCase("/admin/usage?dimension=group&name=default")]
    public async Task AdminKeyGuesses_ThrottledLikeCallerKeys(string path)
    {
        await using var gateway = await GatewayAsync();

        for (var i = 0; i < 3; i++)
        {
            var (refused, _) = await gateway.SendAsync(Get(path, $"admin-guess-{i}"));
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var (throttled, json) = await gateway.SendAsync(Get(path, TestGateway.AdminKey));

        Assert.That(throttled.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), json?.ToJsonString());
        Assert.That(throttled.Headers.RetryAfter, Is.Not.Null);
    }

    [Test]
    public async Task OthersGuessingFromTheSameAddress_DoNotLockOutAKeyInUse()
    {
        await using var gateway = await GatewayAsync();
        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        for (var i = 0; i < 5; i++)
        {
            await gateway.SendAsync(gateway.Post("/v1/messages", Body, key: $"guess-{i}"));
        }

        var (valid, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        var (guess, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body, key: "guess-again"));

        Assert.That(valid.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(guess.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "guesses stay throttled");
        Assert.That(_upstream.Received(), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Status_CallerKey_Refused_AdminKey_Served()
    {
        await using var gateway = await GatewayAsync(maxFailures: 100);

        var (caller, callerJson) = await gateway.SendAsync(Get("/status", TestGateway.AccessKey));
        var (admin, adminJson) = await gateway.SendAsync(Get("/status", TestGateway.AdminKey));

        Assert.That(caller.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(callerJson!.ToJsonString(), Does.Not.Contain(_upstream.BaseUrl().Authority));
        Assert.That(admin.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(adminJson!["channels"]![0]!["baseUrls"]![0]!.GetValue<string>(), Does.Contain(_upstream.BaseUrl().Authority));
    }

    [TestCase("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "more than 31 days")]
    [TestCase("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z", "kept for 40 days")]
    public async Task AdminUsage_RangeItCannotServe_400NotCut(string from, string to, string says)
    {
        await using var gateway = await GatewayAsync(maxFailures: 100);

        var (response, json) = await gateway.SendAsync(Get($"/admin/usage?dimension=group&name=default&from={from}&to={to}", TestGateway.AdminKey));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), json?.ToJsonString());
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain(says));
    }

    [Test]
    public async Task AdminUsage_LastWeek_Served()
    {
        await using var gateway = await GatewayAsync(maxFailures: 100);
        var from = DateTimeOffset.UtcNow.AddDays(-7).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);

        var (response, json) = await gateway.SendAsync(Get($"/admin/usage?dimension=group&name=default&from={from}", TestGateway.AdminKey));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["requests"]!.GetValue<long>(), Is.Zero);
    }

    [Test]
    public async Task AKeyProvenFromOneAddress_DoesNotPassTheThrottleOfAnother()
    {
        // Behind a trusted ingress, so each request says which client it is for.
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Access:MaxFailedAuthPerMinute"] = "3", ["ForwardedHeaders:TrustedNetworks"] = "127.0.0.0/8" });
        HttpRequestMessage From(string client, string key)
        {
            var request = gateway.Post("/v1/messages", Body, key: key);
            request.Headers.Add("X-Forwarded-For", client);
            return request;
        }

        var (owner, _) = await gateway.SendAsync(From("203.0.113.10", TestGateway.AccessKey));
        Assert.That(owner.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        for (var i = 0; i < 3; i++)
        {
            await gateway.SendAsync(From("198.51.100.20", $"guess-{i}"));
        }

        // The guesser's address hits the right key: still throttled, it learns nothing.
        var (guesser, _) = await gateway.SendAsync(From("198.51.100.20", TestGateway.AccessKey));
        var (ownerAgain, _) = await gateway.SendAsync(From("203.0.113.10", TestGateway.AccessKey));

        Assert.That(guesser.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(ownerAgain.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
