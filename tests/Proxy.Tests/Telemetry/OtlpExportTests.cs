using System.Net;
using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using WireMock.Server;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// OTLP/HTTP export end to end, into a fake collector that keeps the raw protobuf bodies: traces, metrics
/// and logs arrive at /v1/{signal}, name the service, the spans, the instruments and the request, and carry
/// no key. Without an endpoint nothing is exported and nothing else changes.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class OtlpExportTests
{
    private const string Channel = "otlp-export-9b2d";
    private const string Body = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    private WireMockServer _upstream = null!;
    private FakeOtlpCollector _collector = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _collector = await FakeOtlpCollector.StartAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        _upstream.Dispose();
        await _collector.DisposeAsync();
    }

    private Dictionary<string, string> Files() => new() { [$"{Channel}.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) };

    [Test]
    public async Task EndpointSet_TracesMetricsAndLogsReachTheCollector_WithoutSecrets()
    {
        var gateway = await TestGateway.StartAsync(Files(), new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
            ["OTEL_SERVICE_NAME"] = "ccx-test",
        });
        string requestId;
        try
        {
            Assert.That(gateway.Services.GetService<OpenTelemetry.Trace.TracerProvider>(), Is.Not.Null, "AddOpenTelemetry() registered");
            var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            requestId = response.Headers.GetValues("x-request-id").Single();

            // The periodic reader exports while the gateway runs (every 500 ms here), not only at the end.
            await Poll.UntilAsync(() => _collector.Received("metrics", "ccx.requests"), "a periodic metrics export with ccx.requests");
        }
        finally
        {
            // Stopping and disposing the host disposes the providers AddOpenTelemetry() made, which flush.
            await gateway.DisposeAsync();
        }

        Assert.Multiple(() =>
        {
            Assert.That(_collector.Received("traces", "upstream attempt"), Is.True, "the attempt span");
            Assert.That(_collector.Received("traces", "ccx.channel"), Is.True, "the channel tag");
            Assert.That(_collector.Received("traces", Channel), Is.True, "the channel's name");
            Assert.That(_collector.Received("traces", requestId), Is.True, "the server span's ccx.request_id");
            Assert.That(_collector.Received("traces", "ccx-test"), Is.True, "OTEL_SERVICE_NAME as service.name");
            Assert.That(_collector.Received("metrics", "ccx.requests"), Is.True);
            Assert.That(_collector.Received("metrics", "gen_ai.server.request.duration"), Is.True);
            Assert.That(_collector.Received("metrics", "ccx-test"), Is.True);
            Assert.That(_collector.Received("logs", requestId), Is.True, "the request's log line");
            Assert.That(_collector.Received("logs", "ccx-test"), Is.True);
        });

        // Protobuf strings are raw UTF-8: a byte search finds a key wherever it would be.
        var secrets = new[] { TestGateway.AccessKey, TestGateway.SecondAccessKey, FakeKeys.Upstream }.Select(Encoding.UTF8.GetBytes).ToList();
        var bodies = _collector.AllBodies();
        Assert.That(bodies, Is.Not.Empty);
        foreach (var body in bodies)
        {
            foreach (var secret in secrets)
            {
                Assert.That(body.AsSpan().IndexOf(secret), Is.EqualTo(-1), $"an exported body holds {Encoding.UTF8.GetString(secret)}");
            }
        }
    }

    [Test]
    public async Task NoEndpoint_NoExport_RequestsWork()
    {
        await using var gateway = await TestGateway.StartAsync(Files());

        Assert.That(gateway.Services.GetService<OpenTelemetry.Trace.TracerProvider>(), Is.Null, "nothing registered, nothing listens");
        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_collector.AllBodies(), Is.Empty);
    }

    [Test]
    [Category("Redis")]
    public async Task WithRedis_ItsCommandsAreClientSpans_NamesOnly_NoSecret()
    {
        await using var redis = await RedisServer.StartAsync();
        var files = Files();
        files["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 1000}}}}""";
        var gateway = await TestGateway.StartAsync(files, new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["Redis:Configuration"] = redis.ConnectionString,
        });
        try
        {
            await Poll.UntilAsync(() => System.Text.Json.Nodes.JsonNode.Parse(gateway.Client.GetStringAsync("/readyz").Result)!["redis"]!["connected"]!.GetValue<bool>(), "Redis connected");
            for (var i = 0; i < 3; i++)
            {
                var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }
        }
        finally
        {
            await gateway.DisposeAsync();
        }

        Assert.That(_collector.Received("traces", "redis"), Is.True, "db.system redis on the Redis client spans");
        Assert.That(_collector.Received("traces", "EVALSHA") || _collector.Received("traces", "EVAL"), Is.True, "the limit script's command");
        var secrets = new[] { TestGateway.AccessKey, FakeKeys.Upstream }.Select(Encoding.UTF8.GetBytes).ToList();
        foreach (var body in _collector.AllBodies())
        {
            foreach (var secret in secrets)
            {
                Assert.That(body.AsSpan().IndexOf(secret), Is.EqualTo(-1));
            }
        }
    }
}
