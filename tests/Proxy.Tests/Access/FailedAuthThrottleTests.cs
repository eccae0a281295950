using System.Net;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Access;

[TestFixture]
[CancelAfter(30_000)]
public sealed class FailedAuthThrottleTests
{
    [Test]
    public async Task RepeatedBadKeys_AddressThrottled_EvenAValidKeyWaits()
    {
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Access:MaxFailedAuthPerMinute"] = "3" });
        const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

        for (var i = 0; i < 3; i++)
        {
            var (bad, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body, key: $"guess-{i}"));
            Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var (throttled, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That(throttled.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("failed authentication"));
        Assert.That(throttled.Headers.RetryAfter!.Delta!.Value, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(TimeSpan.FromMinutes(1)));
        Assert.That(upstream.Received(), Is.Empty);
    }
}
