using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using CcxProxy.Cli;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using CcxProxy.Tests.Telemetry;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Caching;

/// <summary>
/// The response cache shared by two gateways through one real redis-server: an answer one replica stored is a
/// hit on the other, entries expire with the group's TTL, never cross groups, and the usage both replicas
/// account in Redis counts the hit as cached.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(90_000)]
public sealed partial class SharedResponseCacheTests
{
    private const string Groups = """
        {"groups": {
          "default": {"cache": {"ttlSeconds": 600}},
          "team-b": {"cache": {"ttlSeconds": 600}}
        }}
        """;

    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":64,"messages":[{"role":"user","content":"shared?"}]}""";
    private const string StreamBody = """{"model":"claude-sonnet-4-6","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"shared?"}]}""";

    [GeneratedRegex("ccx-[A-Za-z0-9]{40}")]
    private static partial Regex KeyPattern();

    private static string? CacheHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-ccx-cache", out var values) ? values.Single() : null;

    private static async Task<(HttpResponseMessage Response, string Body)> SendAsync(TestGateway gateway, string body, string key = TestGateway.AccessKey)
    {
        var response = await gateway.Client.SendAsync(gateway.Post("/v1/messages", body, key: key));
        var text = await response.Content.ReadAsStringAsync();
        var id = response.Headers.GetValues("x-request-id").Single();
        // The answer is stored after the client has it; the request's log line is written once it is.
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains($"request {id} ", StringComparison.Ordinal)), "the request's log line");
        return (response, text);
    }

    [Test]
    public async Task TwoGateways_OneRedis_AnswerStoredByOneIsAHitOnTheOther_NeverAcrossGroups()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost()).RespondWith(Response.Create().WithAnswer(request => request.IsStream
            ? StockAnswer.OfStream(FakeAnthropic.TextStream("up", "streamed once", 3))
            // An upstream that echoes the request's key in its answer: the stored entry must not hold it.
            : StockAnswer.OfJson(200, FakeAnthropic.Message("up", [FakeAnthropic.TextBlock("answered once for " + request.Header("x-api-key"))], inputTokens: 11, outputTokens: 7))));
        var channels = new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(), """ "groups": ["default", "team-b"] """), ["groups.json"] = Groups };
        var settings = new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString };
        await using var a = await TestGateway.StartAsync(channels, settings);
        await using var b = await TestGateway.StartAsync(channels, settings);
        var teamB = await CreateKeyAsync(redis, "team-b");

        var (miss, missBody) = await SendAsync(a, Body);
        var (hit, hitBody) = await SendAsync(b, Body);
        var (otherGroup, otherBody) = await SendAsync(b, Body, teamB);

        Assert.That(miss.StatusCode, Is.EqualTo(HttpStatusCode.OK), missBody);
        Assert.That(CacheHeader(miss), Is.EqualTo("miss"));
        Assert.That(CacheHeader(hit), Is.EqualTo("hit"), "stored by gateway a, found by gateway b");
        Assert.That(hitBody, Does.Contain("answered once for [redacted]"));
        Assert.That(otherGroup.StatusCode, Is.EqualTo(HttpStatusCode.OK), otherBody);
        Assert.That(CacheHeader(otherGroup), Is.EqualTo("miss"), "groups never share an entry");
        Assert.That(upstream.Received(), Has.Count.EqualTo(2));

        // One entry per group, named by group and hash, expiring with the group's TTL.
        var keys = (await redis.CommandAsync("KEYS", "ccx:response:*")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(keys.Select(k => k.Split(':')[2]), Is.EquivalentTo(new[] { "default", "team-b" }));
        Assert.That(keys, Has.All.Match("^ccx:response:[a-z-]+:[0-9a-f]{64}$"));
        var ttl = int.Parse(await redis.CommandAsync("TTL", keys[0]), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(ttl, Is.InRange(1, 600));
        Assert.That(await redis.CommandAsync("HGET", keys[0], "data"), Does.Not.Contain(FakeKeys.Upstream).And.Not.Contain(TestGateway.AccessKey));

        // A stream too: stored by b, replayed by a as a stream.
        var (streamMiss, streamBody) = await SendAsync(b, StreamBody);
        var (streamHit, replayed) = await SendAsync(a, StreamBody);
        Assert.That(CacheHeader(streamMiss), Is.EqualTo("miss"));
        Assert.That(CacheHeader(streamHit), Is.EqualTo("hit"));
        Assert.That(streamHit.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
        Assert.That(SseText.Parse(replayed).Select(e => e.Type).Last(), Is.EqualTo("message_stop"));
        Assert.That(string.Concat(SseText.Parse(replayed).Where(e => e.Type == "content_block_delta")
            .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("delta").GetProperty("text").GetString())), Is.EqualTo("streamed once"));
        Assert.That(SseText.Parse(replayed).Select(e => e.Data), Is.EqualTo(SseText.Parse(streamBody).Where(e => e.Type != "ping").Select(e => e.Data)));
        Assert.That(upstream.Received(), Has.Count.EqualTo(3));

        // Both replicas account into Redis: group default made 4 requests, 2 answered from the cache, tokens only for the 2 forwarded.
        var usage = await UsageAsync(redis, "group", "default");
        Assert.That(usage.GetProperty("requests").GetInt64(), Is.EqualTo(4));
        Assert.That(usage.GetProperty("cached_requests").GetInt64(), Is.EqualTo(2));
        Assert.That(usage.GetProperty("output_tokens").GetInt64(), Is.EqualTo(7 + StreamOutputTokens(streamBody)));
    }

    private static long StreamOutputTokens(string sse) => SseText.Parse(sse).Where(e => e.Type == "message_delta")
        .Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("usage").GetProperty("output_tokens").GetInt64()).Sum();

    [Test]
    public async Task EntryReadFromRedis_ExpiresWithTheGroupsTtl_OnTheReplicaThatReadIt()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.StartProvider();
        var channels = new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()),
            ["groups.json"] = """{"groups": {"default": {"cache": {"ttlSeconds": 2}}}}""",
        };
        var settings = new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString };
        await using var a = await TestGateway.StartAsync(channels, settings);
        await using var b = await TestGateway.StartAsync(channels, settings);

        await SendAsync(a, Body);
        // Stored by now (the request's log line comes after the store).
        var stored = DateTimeOffset.UtcNow;
        var (hit, _) = await SendAsync(b, Body);
        // b now holds the entry in its first level too; past the TTL it must not serve it.
        await Task.Delay(stored.AddSeconds(2.3) - DateTimeOffset.UtcNow is { Ticks: > 0 } wait ? wait : TimeSpan.Zero);
        var (expired, _) = await SendAsync(b, Body);

        Assert.That(CacheHeader(hit), Is.EqualTo("hit"));
        Assert.That(CacheHeader(expired), Is.EqualTo("miss"));
        Assert.That(upstream.Received(), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task RedisDown_EveryRequestForwarded_NoneFails()
    {
        var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()), ["groups.json"] = Groups },
            new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString + ",connectTimeout=500,syncTimeout=500,asyncTimeout=500" });
        await SendAsync(gateway, Body);
        await redis.DisposeAsync();

        for (var i = 0; i < 2; i++)
        {
            var (response, text) = await SendAsync(gateway, Body.Replace("shared?", "down " + i, StringComparison.Ordinal));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
            Assert.That(CacheHeader(response), Is.EqualTo("miss"));
        }

        Assert.That(upstream.Received(), Has.Count.EqualTo(3));
    }

    private static async Task<string> CreateKeyAsync(RedisServer redis, string group)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(["keys", "create", "--group", group, $"--Redis:Configuration={redis.ConnectionString}"],
            new CliContext { Out = output, Error = error, WorkingDirectory = Path.GetTempPath() });
        Assert.That(code, Is.Zero, error.ToString());
        return KeyPattern().Match(output.ToString()).Value;
    }

    private static async Task<JsonElement> UsageAsync(RedisServer redis, string dimension, string name)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(["usage", $"--{dimension}", name, "--json", $"--Redis:Configuration={redis.ConnectionString}"],
            new CliContext { Out = output, Error = error, WorkingDirectory = Path.GetTempPath() });
        Assert.That(code, Is.Zero, error.ToString());
        return JsonDocument.Parse(output.ToString()).RootElement.Clone();
    }
}
