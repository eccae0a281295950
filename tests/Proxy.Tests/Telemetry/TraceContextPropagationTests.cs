using System.Diagnostics;
using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// W3C trace context across the gateway: the caller's traceparent, tracestate and baggage never go upstream
/// as they came; a channel with <c>propagateTraceContext</c> gets the gateway's own context, which continues
/// the caller's trace (same trace id, the gateway's span as parent).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class TraceContextPropagationTests
{
    private const string TraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    private const string CallerSpanId = "00f067aa0ba902b7";

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    /// <summary>Two channels on one upstream, told apart by the models they serve.</summary>
    internal static Dictionary<string, string> Channels(Uri upstream) => new()
    {
        ["traces-off.json"] = TestGateway.AnthropicChannel(upstream, """ "models": ["trace-off-*"] """),
        ["traces-on.json"] = TestGateway.AnthropicChannel(upstream, """ "models": ["trace-on-*"], "propagateTraceContext": true """),
    };

    /// <summary>A request carrying the caller's own trace context.</summary>
    internal static HttpRequestMessage TracedPost(TestGateway gateway, string model)
    {
        var request = gateway.Post("/v1/messages", $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""");
        request.Headers.TryAddWithoutValidation("traceparent", $"00-{TraceId}-{CallerSpanId}-01");
        request.Headers.TryAddWithoutValidation("tracestate", "vendor=x");
        request.Headers.TryAddWithoutValidation("baggage", "caller.secret=42");
        return request;
    }

    internal static void AssertNoTraceHeaders(RecordedRequest upstream)
    {
        Assert.Multiple(() =>
        {
            Assert.That(upstream.Header("traceparent"), Is.Null);
            Assert.That(upstream.Header("tracestate"), Is.Null);
            Assert.That(upstream.Header("baggage"), Is.Null);
            Assert.That(upstream.Header("request-id"), Is.Null);
            Assert.That(upstream.Header("correlation-context"), Is.Null);
        });
    }

    [Test]
    public async Task Tracing_ChannelWithoutPropagation_UpstreamGetsNoTraceHeaders()
    {
        using var spans = new SpanRecorder(SpanRecorder.AspNetCore, SpanRecorder.Gateway, SpanRecorder.HttpClient);
        await using var gateway = await TestGateway.StartAsync(Channels(_upstream.BaseUrl()));

        var (response, _) = await gateway.SendAsync(TracedPost(gateway, "trace-off-1"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        AssertNoTraceHeaders(_upstream.Received().Single());
        // Activities did exist: the gateway traced the request, it just kept its context to itself.
        var server = await spans.ServerSpanAsync(response.Headers.GetValues("x-request-id").Single());
        Assert.That(spans.ChildrenOf(server, "upstream attempt"), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Tracing_ChannelWithPropagation_UpstreamContinuesTheCallersTraceUnderTheGatewaysSpan()
    {
        using var spans = new SpanRecorder(SpanRecorder.AspNetCore, SpanRecorder.Gateway, SpanRecorder.HttpClient);
        await using var gateway = await TestGateway.StartAsync(Channels(_upstream.BaseUrl()));

        var (response, _) = await gateway.SendAsync(TracedPost(gateway, "trace-on-1"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var traceparent = _upstream.Received().Single().Header("traceparent");
        Assert.That(traceparent, Does.Match("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$"));
        var parts = traceparent!.Split('-');
        Assert.That(parts[1], Is.EqualTo(TraceId), "the gateway continues the caller's trace");
        Assert.That(parts[2], Is.Not.EqualTo(CallerSpanId), "the upstream's parent is a span of the gateway, not the caller's");
        Assert.That(_upstream.Received().Single().Header("baggage"), Is.Null, "the caller's baggage is its own");

        // The server span is the caller's child, and the upstream's parent is one of the gateway's spans in that trace.
        var server = await spans.ServerSpanAsync(response.Headers.GetValues("x-request-id").Single());
        Assert.That(server.TraceId.ToHexString(), Is.EqualTo(TraceId));
        Assert.That(server.ParentSpanId.ToHexString(), Is.EqualTo(CallerSpanId));
        await Poll.UntilAsync(() => spans.Stopped.Any(a => a.TraceId.ToHexString() == TraceId && a.SpanId.ToHexString() == parts[2]),
            $"a gateway span {parts[2]} in the caller's trace");
    }

    /// <summary>
    /// With OTLP export on, OpenTelemetry's HttpClient instrumentation listens to every outbound request in the
    /// process and, with its default propagator, writes its own <c>traceparent</c> and <c>baggage</c> (the
    /// caller's, as its ASP.NET Core instrumentation read it) into each, past the channel's policy. The gateway's
    /// channel policy must stay the only one that decides.
    /// </summary>
    [TestCase("trace-on-3", true)]
    [TestCase("trace-off-3", false)]
    public async Task Tracing_WithOtlpExport_OnlyTheChannelsPolicyDecidesWhatGoesUpstream(string model, bool propagates)
    {
        await using var collector = await FakeOtlpCollector.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Channels(_upstream.BaseUrl()), new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Endpoint,
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        });

        var (response, _) = await gateway.SendAsync(TracedPost(gateway, model));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var upstream = _upstream.Received().Single();
        if (!propagates)
        {
            AssertNoTraceHeaders(upstream);
            return;
        }

        Assert.Multiple(() =>
        {
            Assert.That(upstream.Header("traceparent"), Does.Match($"^00-{TraceId}-[0-9a-f]{{16}}-01$"), "the caller's trace, continued");
            Assert.That(upstream.Header("baggage"), Is.Null, "the caller's baggage is its own");
            Assert.That(upstream.Header("correlation-context"), Is.Null);
            Assert.That(upstream.Header("request-id"), Is.Null);
        });
    }
}

/// <summary>
/// The caller's trace headers are stripped even when nothing listens to any activity source. Not run in
/// parallel with other fixtures, whose activity listeners are process-wide.
/// </summary>
[TestFixture]
[NonParallelizable]
[CancelAfter(60_000)]
public sealed class TraceContextWithoutListenerTests
{
    [Test]
    public async Task NoListener_ChannelWithoutPropagation_CallersTraceHeadersStripped()
    {
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(TraceContextPropagationTests.Channels(upstream.BaseUrl()));
        using (var probe = new ActivitySource(SpanRecorder.AspNetCore))
        {
            Assert.That(probe.HasListeners(), Is.False, "some other test left an activity listener behind");
        }

        var (response, _) = await gateway.SendAsync(TraceContextPropagationTests.TracedPost(gateway, "trace-off-2"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        TraceContextPropagationTests.AssertNoTraceHeaders(upstream.Received().Single());
    }
}
