using System.Net;
using CcxProxy.Telemetry;
using CcxProxy.Tests.Routing;
using CcxProxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// The gateway's meter, listened to on the gateway's own <c>Meter</c> instance: request counts and
/// durations, time to first token for streams, tokens, upstream attempts by outcome, rate-limit refusals,
/// and the observable gauges (breaker states, configuration version).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GatewayMetricsTests : TwoProviders
{
    private const string Model = "claude-sonnet-4-6";

    private static string Body(bool stream = false) =>
        $$"""{"model":"{{Model}}","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync(Dictionary<string, string?>? settings = null, string? groups = null)
    {
        var files = new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl(), """ "priority": 0 """),
            ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
        };
        if (groups is not null)
        {
            files["groups.json"] = groups;
        }

        return TestGateway.StartAsync(files, settings);
    }

    private static MeasurementRecorder Record(TestGateway gateway) =>
        new(gateway.Services.GetRequiredService<GatewayTelemetry>().Meter);

    [Test]
    public async Task NonStreamAndStream_AfterFailover_RequestsDurationsTokensAndAttemptsMeasured()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "boom"));
        await using var gateway = await GatewayAsync();
        using var metrics = Record(gateway);

        var (plain, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        Assert.That(plain.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        // Recorded as the request ends, which may be just after the client has its answer.
        await Poll.UntilAsync(() => metrics.Of("ccx.requests").Count == 1, "the first request's ccx.requests");
        var (streamed, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(stream: true)));
        Assert.That(streamed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        await Poll.UntilAsync(() => metrics.Of("ccx.requests").Count == 2, "the second request's ccx.requests");

        var requests = metrics.Of("ccx.requests");
        Assert.That(requests.Select(m => m.Value), Is.EqualTo(new[] { 1d, 1d }));
        foreach (var request in requests)
        {
            Assert.Multiple(() =>
            {
                Assert.That(request.Tag("http.response.status_code"), Is.EqualTo(200), request.ToString());
                Assert.That(request.Tag("ccx.channel"), Is.EqualTo("b"), request.ToString());
                Assert.That(request.Tag("ccx.group"), Is.EqualTo("default"), request.ToString());
                Assert.That(request.Tag("gen_ai.request.model"), Is.EqualTo(Model), request.ToString());
                Assert.That(request.Tag("ccx.route"), Is.EqualTo("messages"), request.ToString());
                Assert.That(request.Tags.ContainsKey("error.type"), Is.False, request.ToString());
            });
        }

        var durations = metrics.Of("gen_ai.server.request.duration");
        Assert.That(durations, Has.Count.EqualTo(2));
        Assert.That(durations.Select(m => m.Value), Has.All.GreaterThan(0));

        var firstByte = metrics.Of("ccx.server.time_to_first_byte");
        Assert.That(firstByte, Has.Count.EqualTo(2), "both answers had a first byte");
        Assert.That(firstByte.Zip(durations).Select(p => p.First.Value <= p.Second.Value), Has.All.True, "the first byte comes no later than the end");

        var firstToken = metrics.Of("gen_ai.server.time_to_first_token");
        Assert.That(firstToken, Has.Count.EqualTo(1), "only the stream has a first token");
        Assert.That(firstToken[0].Value, Is.GreaterThan(0));
        Assert.That(firstToken[0].Tag("ccx.channel"), Is.EqualTo("b"));

        // The non-stream default answer: 10 in, 5 out; the default stream: 10 in, 20 out (one per text delta).
        Assert.That(Tokens(metrics, "ccx.tokens", "input"), Is.EqualTo(new[] { 10d, 10d }));
        Assert.That(Tokens(metrics, "ccx.tokens", "output"), Is.EqualTo(new[] { 5d, 20d }));
        Assert.That(Tokens(metrics, "gen_ai.client.token.usage", "input"), Is.EqualTo(new[] { 10d, 10d }));
        Assert.That(Tokens(metrics, "gen_ai.client.token.usage", "output"), Is.EqualTo(new[] { 5d, 20d }));
        Assert.That(metrics.Of("ccx.tokens").Select(m => m.Tag("gen_ai.token.type")), Has.None.EqualTo("cache_read").And.None.EqualTo("cache_write"),
            "zero counts are not recorded");

        var attempts = metrics.Of("ccx.upstream.attempts");
        Assert.That(Sum(attempts, "a", "server_error"), Is.EqualTo(2), string.Join("; ", attempts));
        Assert.That(Sum(attempts, "b", "success"), Is.EqualTo(2), string.Join("; ", attempts));
        Assert.That(attempts.Sum(m => m.Value), Is.EqualTo(4), string.Join("; ", attempts));

        Assert.That(metrics.Of("ccx.streams.active").Select(m => m.Value), Is.EqualTo(new[] { 1d, -1d }), "one stream, started and ended");
        Assert.That(metrics.Of("ccx.ratelimit.rejections"), Is.Empty);
    }

    [Test]
    public async Task GroupRateLimitRefuses_RejectionCountedWithGroupAndStatus()
    {
        await using var gateway = await GatewayAsync(groups: """{"groups": {"default": {"limits": {"requestsPerMinute": 1}}}}""");
        using var metrics = Record(gateway);

        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        var (second, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        var rejections = metrics.Of("ccx.ratelimit.rejections");
        Assert.That(rejections, Has.Count.EqualTo(1));
        Assert.That(rejections[0].Value, Is.EqualTo(1));
        Assert.That(rejections[0].Tag("ccx.group"), Is.EqualTo("default"));
        Assert.That(rejections[0].Tag("http.response.status_code"), Is.EqualTo(429));

        await Poll.UntilAsync(() => metrics.Of("ccx.requests").Count == 2, "both requests' ccx.requests");
        var refused = metrics.Of("ccx.requests").Single(m => Equals(m.Tag("http.response.status_code"), 429));
        Assert.That(refused.Tag("error.type"), Is.EqualTo("rate_limit_exceeded"), refused.ToString());
        Assert.That(refused.Tag("ccx.group"), Is.EqualTo("default"), refused.ToString());
        Assert.That(metrics.Of("ccx.upstream.attempts").Sum(m => m.Value), Is.EqualTo(1), "the refused request made no attempt");
    }

    [Test]
    public async Task ObservableGauges_BreakerStateAndConfigVersion()
    {
        A.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "boom"));
        // One failure opens a breaker; a long cooldown so it cannot half-open while the test looks.
        await using var gateway = await GatewayAsync(new Dictionary<string, string?>
        {
            ["Routing:Breaker:ConsecutiveFailures"] = "1",
            // One test client: any caller's failure counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
            ["Routing:Breaker:MinimumCallers"] = "1",
            ["Routing:Breaker:BaseCooldownSeconds"] = "60",
        });
        using var metrics = Record(gateway);

        metrics.RecordObservableInstruments();
        Assert.Multiple(() =>
        {
            Assert.That(ChannelBreaker(metrics, "a"), Is.EqualTo(new[] { 0d }), "healthy: closed");
            Assert.That(ChannelBreaker(metrics, "b"), Is.EqualTo(new[] { 0d }), "healthy: closed");
            Assert.That(metrics.Of("ccx.config.version").Single().Value, Is.GreaterThanOrEqualTo(1));
            Assert.That(metrics.Of("ccx.config.rejected_files").Single().Value, Is.Zero);
            Assert.That(metrics.Of("ccx.redis.available").Single().Value, Is.EqualTo(1), "Redis is not configured");
        });
        var scopes = metrics.Of("ccx.breaker.state").Where(m => Equals(m.Tag("ccx.channel"), "a")).Select(m => m.Tag("ccx.breaker.scope"));
        Assert.That(scopes, Is.EquivalentTo(new[] { "channel", "key", "destination" }));

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "b answered");

        metrics.RecordObservableInstruments();
        Assert.That(ChannelBreaker(metrics, "a"), Is.EqualTo(new[] { 0d, 2d }), "a's breaker opened after one server error");
        Assert.That(ChannelBreaker(metrics, "b"), Is.EqualTo(new[] { 0d, 0d }));
    }

    private static double[] Tokens(MeasurementRecorder metrics, string instrument, string type) =>
        [.. metrics.Of(instrument).Where(m => Equals(m.Tag("gen_ai.token.type"), type)).Select(m => m.Value)];

    private static double Sum(IEnumerable<MeasurementRecorder.Recorded> attempts, string channel, string outcome) =>
        attempts.Where(m => Equals(m.Tag("ccx.channel"), channel) && Equals(m.Tag("ccx.outcome"), outcome)).Sum(m => m.Value);

    private static double[] ChannelBreaker(MeasurementRecorder metrics, string channel) =>
        [.. metrics.Of("ccx.breaker.state")
            .Where(m => Equals(m.Tag("ccx.channel"), channel) && Equals(m.Tag("ccx.breaker.scope"), "channel"))
            .Select(m => m.Value)];
}
