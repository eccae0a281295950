using System.Net;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Hosting;

/// <summary>
/// A setting out of range stops the gateway at start, naming the setting and the value, instead of being clamped
/// or failing on the first request (docs/configuration.md).
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class OptionsValidationTests
{
    private static readonly Dictionary<string, string> s_channels = new()
    {
        ["main.json"] = TestGateway.AnthropicChannel(new Uri("http://127.0.0.1:9")),
    };

    [TestCase("Proxy:MaxAttempts", "0", "Proxy:MaxAttempts must be at least 1 (was 0)")]
    [TestCase("Proxy:MaxRequestBodyBytes", "9223372036854775807", "Proxy:MaxRequestBodyBytes must be from 1 to")]
    [TestCase("Proxy:StreamKeepAliveSeconds", "-1", "Proxy:StreamKeepAliveSeconds must be more than 0 and at most 86400 (was -1)")]
    [TestCase("Proxy:StreamKeepAliveSeconds", "5000000", "Proxy:StreamKeepAliveSeconds must be more than 0 and at most 86400 (was 5000000)")]
    [TestCase("Proxy:RetryDeadlineSeconds", "0", "Proxy:RetryDeadlineSeconds must be more than 0 (was 0)")]
    [TestCase("Routing:CooldownSyncSeconds", "0", "Routing:CooldownSyncSeconds must be at least 0.05 (was 0)")]
    [TestCase("Routing:CooldownSyncSeconds", "0.01", "Routing:CooldownSyncSeconds must be at least 0.05 (was 0.01)")]
    [TestCase("Shutdown:DelaySeconds", "-1", "Shutdown:DelaySeconds must be from 0 to 86400 (was -1)")]
    [TestCase("Shutdown:DrainSeconds", "NaN", "Shutdown:DrainSeconds must be from 0 to 86400 (was NaN)")]
    [TestCase("Routing:Breaker:ConsecutiveFailures", "0", "Routing:Breaker:ConsecutiveFailures must be at least 1 (was 0)")]
    [TestCase("Routing:Breaker:MinimumCallers", "11", "Routing:Breaker:MinimumCallers must be from 1 to 10 (was 11)")]
    [TestCase("Routing:Breaker:WindowSeconds", "0", "Routing:Breaker:WindowSeconds")]
    [TestCase("Channels:PollIntervalSeconds", "0", "Channels:PollIntervalSeconds must be more than 0 (was 0)")]
    [TestCase("Access:MaxFailedAuthPerMinute", "-5", "Access:MaxFailedAuthPerMinute must be at least 1 (was -5)")]
    [TestCase("Limits:OnRedisFailure", "close", "Limits:OnRedisFailure must be open or closed (was 'close')")]
    [TestCase("Responses:StoreSeconds", "0", "Responses:StoreSeconds must be more than 0 and at most a year (was 0)")]
    [TestCase("Limits:RedisTimeoutMilliseconds", "0", "Limits:RedisTimeoutMilliseconds must be at least 1 (was 0)")]
    public async Task OutOfRange_StartStops_NamingTheSettingAndValue(string setting, string value, string says)
    {
        var error = await Assert.CatchAsync(async () =>
        {
            await using var gateway = await TestGateway.StartAsync(s_channels, new Dictionary<string, string?> { [setting] = value });
        });

        Assert.That(error!.ToString(), Does.Contain(says));
    }

    [Test]
    public async Task MaxAttemptsOfOne_Starts()
    {
        await using var gateway = await TestGateway.StartAsync(s_channels, new Dictionary<string, string?> { ["Proxy:MaxAttempts"] = "1" });

        using var response = await gateway.Client.GetAsync(new Uri("/livez", UriKind.Relative));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
