using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Access;

/// <summary>
/// Limits from groups.json applied by the running gateway: 429 with retry-after and rate-limit headers in
/// the caller's protocol, 402 for a spent quota, concurrency slots held by streams, and — with Redis —
/// one limit shared exactly by three gateway instances.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GatewayLimitsTests
{
    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    /// <summary>Streamed requests get their first event at once and the rest only when <paramref name="gate"/> opens.</summary>
    private void StreamsWaitFor(Task gate) => _upstream.Given(Request.Create().WithBody(new JsonPartialMatcher("""{"stream":true}""")))
        .RespondWith(Response.Create().WithEvents(_ => [FakeAnthropic.MessageStart("m"), StreamStep.Wait(gate), .. FakeAnthropic.TextStream("m", "done", 1).Skip(1)]));

    private static string Body(string model = "claude-sonnet-4-6", bool stream = false) =>
        $$"""{"model":"{{model}}","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private Dictionary<string, string> Files(string limits) => new()
    {
        ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()),
        ["groups.json"] = "{\"groups\": {\"default\": {\"limits\": " + limits + "}}}",
    };

    [Test]
    public async Task RequestsPerMinute_Exceeded_429WithRetryAfterAndAnthropicHeaders()
    {
        await using var gateway = await TestGateway.StartAsync(Files("""{"requestsPerMinute": 3}"""));

        for (var i = 0; i < 3; i++)
        {
            var (ok, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"request {i + 1}");
            Assert.That(ok.Headers.GetValues("anthropic-ratelimit-requests-limit").Single(), Is.EqualTo("3"));
        }

        var (refused, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("rate_limit_error"));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("requests per minute").And.Contain("group:default"));
        Assert.That(refused.Headers.RetryAfter!.Delta!.Value, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(refused.Headers.GetValues("anthropic-ratelimit-requests-remaining").Single(), Is.EqualTo("0"));
        Assert.That(DateTimeOffset.Parse(refused.Headers.GetValues("anthropic-ratelimit-requests-reset").Single(), System.Globalization.CultureInfo.InvariantCulture),
            Is.GreaterThan(DateTimeOffset.UtcNow.AddSeconds(-5)));
        Assert.That(_upstream.Received(), Has.Count.EqualTo(3), "the refused request never reached the upstream");
    }

    [Test]
    public async Task AdmittedRequest_UpstreamUnreachable_502KeepsTheGatewaysOwnHeaders()
    {
        // The error is written on a response reset to what the gateway itself said (request id, rate-limit state),
        // not on a blank one: the caller still learns how much of its limit is left.
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(FreePort.ClosedUrl()),
            ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 5}}}}""",
        });

        var (failed, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(failed.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("could not reach the upstream"));
        Assert.That(failed.Headers.GetValues("anthropic-ratelimit-requests-limit").Single(), Is.EqualTo("5"));
        Assert.That(failed.Headers.GetValues("x-request-id").Single(), Is.EqualTo(json["request_id"]!.GetValue<string>()));
    }

    [Test]
    public async Task RequestsPerMinute_OpenAIClient_OpenAIShapedErrorAndHeaders()
    {
        await using var gateway = await TestGateway.StartAsync(Files("""{"requestsPerMinute": 1}"""));
        const string Chat = """{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}""";

        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/chat/completions", Chat, bearer: true));
        var (second, json) = await gateway.SendAsync(gateway.Post("/v1/chat/completions", Chat, bearer: true));

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(json!["error"]!["code"]!.GetValue<string>(), Is.EqualTo("rate_limit_exceeded"));
        Assert.That(second.Headers.GetValues("x-ratelimit-limit-requests").Single(), Is.EqualTo("1"));
        Assert.That(second.Headers.GetValues("x-ratelimit-reset-requests").Single(), Does.Match("^[0-9]+s$"));
    }

    [Test]
    public async Task Quota_Spent_402BillingErrorNotRetryable()
    {
        // The default fake answer reports 10 input + 5 output tokens: the first request spends the quota of 10.
        await using var gateway = await TestGateway.StartAsync(Files("""{"quota": {"tokens": 10, "period": "total"}}"""));

        var (first, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        // The real usage is charged just after the answer ends: the next request sees it within moments.
        HttpResponseMessage second;
        System.Text.Json.Nodes.JsonNode? json;
        var tries = 0;
        do
        {
            (second, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
            await Task.Delay(50);
        }
        while (second.StatusCode == HttpStatusCode.OK && ++tries < 20);

        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.PaymentRequired));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("billing_error"));
        Assert.That(second.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
    }

    [Test]
    public async Task Concurrency_StreamHoldsItsSlotUntilItEnds()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StreamsWaitFor(gate.Task);
        await using var gateway = await TestGateway.StartAsync(Files("""{"concurrency": 1}"""));

        using var stream = await gateway.Client.SendAsync(gateway.Post("/v1/messages", Body(stream: true)), HttpCompletionOption.ResponseHeadersRead);
        Assert.That(stream.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var (busy, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        Assert.That(busy.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("requests in flight"));

        gate.SetResult();
        await (await stream.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null);
        HttpStatusCode after = default;
        for (var i = 0; i < 50 && after != HttpStatusCode.OK; i++)
        {
            (var response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
            after = response.StatusCode;
            await Task.Delay(20);
        }

        Assert.That(after, Is.EqualTo(HttpStatusCode.OK), "the slot is free once the stream ended");
    }

    [Test]
    [Category("Redis")]
    public async Task ThreeGateways_SharingRedis_AdmitExactlyTheLimitUnderConcurrentLoad()
    {
        await using var redis = await RedisServer.StartAsync();
        // This test is about the shared limiter being exact; on a machine busy with the rest of the suite a
        // decision can take longer than the default 250 ms, which would (correctly) fail open to memory.
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.ConnectionString,
            ["Limits:RedisTimeoutMilliseconds"] = "5000",
        };
        var gateways = new List<TestGateway>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                gateways.Add(await TestGateway.StartAsync(Files("""{"requestsPerMinute": 20}"""), settings));
            }

            await WaitForRedisAsync(gateways);
            var statuses = new ConcurrentBag<HttpStatusCode>();
            await Parallel.ForEachAsync(Enumerable.Range(0, 60), new ParallelOptions { MaxDegreeOfParallelism = 12 }, async (i, _) =>
            {
                var gateway = gateways[i % 3];
                var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
                statuses.Add(response.StatusCode);
            });

            Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.EqualTo(20));
            Assert.That(statuses.Count(s => s == HttpStatusCode.TooManyRequests), Is.EqualTo(40));
            Assert.That(_upstream.Received(), Has.Count.EqualTo(20));
        }
        finally
        {
            foreach (var gateway in gateways)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    [Test]
    [Category("Redis")]
    public async Task ThreeGateways_SharingRedis_ConcurrencySlotsHoldAcrossInstances()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        StreamsWaitFor(gate.Task);
        await using var redis = await RedisServer.StartAsync();
        // This test is about the shared limiter being exact; on a machine busy with the rest of the suite a
        // decision can take longer than the default 250 ms, which would (correctly) fail open to memory.
        var settings = new Dictionary<string, string?>
        {
            ["Redis:Configuration"] = redis.ConnectionString,
            ["Limits:RedisTimeoutMilliseconds"] = "5000",
        };
        var gateways = new List<TestGateway>();
        var streams = new List<HttpResponseMessage>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                gateways.Add(await TestGateway.StartAsync(Files("""{"concurrency": 2}"""), settings));
            }

            await WaitForRedisAsync(gateways);
            for (var i = 0; i < 2; i++)
            {
                var stream = await gateways[i].Client.SendAsync(gateways[i].Post("/v1/messages", Body(stream: true)), HttpCompletionOption.ResponseHeadersRead);
                Assert.That(stream.StatusCode, Is.EqualTo(HttpStatusCode.OK));
                streams.Add(stream);
            }

            var (third, _) = await gateways[2].SendAsync(gateways[2].Post("/v1/messages", Body()));
            Assert.That(third.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "two streams on two other gateways hold both slots");

            gate.SetResult();
            foreach (var stream in streams)
            {
                await (await stream.Content.ReadAsStreamAsync()).CopyToAsync(Stream.Null);
            }

            // The slots are released when the gateways finish the streams (just after the client has read them).
            HttpStatusCode after = default;
            for (var i = 0; i < 50 && after != HttpStatusCode.OK; i++)
            {
                (var response, _) = await gateways[2].SendAsync(gateways[2].Post("/v1/messages", Body()));
                after = response.StatusCode;
                await Task.Delay(20);
            }

            Assert.That(after, Is.EqualTo(HttpStatusCode.OK));
        }
        finally
        {
            foreach (var stream in streams)
            {
                stream.Dispose();
            }

            foreach (var gateway in gateways)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    private static async Task WaitForRedisAsync(IEnumerable<TestGateway> gateways)
    {
        foreach (var gateway in gateways)
        {
            for (var i = 0; i < 100; i++)
            {
                var text = await gateway.Client.GetStringAsync("/readyz");
                if (JsonNode.Parse(text)!["redis"]!["connected"]!.GetValue<bool>())
                {
                    break;
                }

                await Task.Delay(100);
            }
        }
    }
}
