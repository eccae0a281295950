using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Upstream faults over real sockets, each bounded in time: an upstream killed under load, and streams that stall
/// before or after their first content until the gateway gives up. Before the first content the next channel
/// answers invisibly; after it the stream ends with an error event in the client's protocol, never silently.
/// Covered elsewhere: no headers in time (FailoverTests, ErrorResponseTests), error events before content
/// (StreamErrorEventTests), the client leaving mid-stream (MessagesForwardingTests). On the Kestrel fake: WireMock
/// cannot kill an upstream, and these stalls last until the gateway leaves.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class UpstreamFaultTests : TwoUpstreams
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);

    private static string Body(bool stream = true) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private Task<TestGateway> GatewayAsync(string aFields = "", bool withB = true)
    {
        var channels = new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl, """ "priority": 0 """ + (aFields.Length > 0 ? ", " + aFields : "")),
        };
        if (withB)
        {
            channels["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """);
        }

        return TestGateway.StartAsync(channels);
    }

    /// <summary>Sends a streamed request and reads the whole answer, bounded in time.</summary>
    internal static async Task<(HttpStatusCode Status, IReadOnlyList<(string? Type, string Data)> Events)> StreamAsync(TestGateway gateway, string path = "/v1/messages", string? body = null)
    {
        using var response = await gateway.Client.SendAsync(gateway.Post(path, body ?? Body()), HttpCompletionOption.ResponseHeadersRead).WaitAsync(s_bound);
        var text = await response.Content.ReadAsStringAsync().WaitAsync(s_bound);
        return (response.StatusCode, SseText.Parse(text));
    }

    private static string Text(IEnumerable<(string? Type, string Data)> events) =>
        string.Concat(events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!["text"]!.GetValue<string>()));

    internal static string ErrorType((string? Type, string Data) e) => JsonNode.Parse(e.Data)!["error"]!["type"]!.GetValue<string>();

    internal static void AssertOneCleanAnswer(HttpStatusCode status, IReadOnlyList<(string? Type, string Data)> events)
    {
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1), "one clean answer");
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events[^1].Type, Is.EqualTo("message_stop"));
        Assert.That(Text(events), Is.EqualTo(FakeUpstreamOptions.DefaultText));
    }

    [Test]
    public async Task UpstreamKilledUnderLoad_EveryStreamEndsCleanlyOrWithErrorEvent_LaterRequestsServedByB()
    {
        var steps = new List<StreamStep> { FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0) };
        for (var i = 0; i < 20; i++)
        {
            steps.Add(StreamStep.Delay(TimeSpan.FromMilliseconds(100)));
            steps.Add(FakeAnthropic.TextDelta(0, $"a{i} "));
        }

        steps.AddRange([FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 20), FakeAnthropic.MessageStop()]);
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, steps, ctx.RequestAborted);
        await using var gateway = await GatewayAsync();

        var clock = Stopwatch.StartNew();
        var load = Enumerable.Range(0, 20).Select(_ => StreamAsync(gateway)).ToList();

        // Kill a while its streams are under way (about 0.5 s in, once it has some).
        while (A.Requests.Count == 0 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        await Task.Delay(500);
        await A.DisposeAsync();
        var after = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => StreamAsync(gateway)));
        var during = await Task.WhenAll(load).WaitAsync(s_bound);

        Assert.That(during.Select(r => r.Status), Has.All.EqualTo(HttpStatusCode.OK));
        foreach (var (_, events) in during)
        {
            var types = events.Select(e => e.Type).ToList();
            Assert.That(types.Count(t => t == "message_start"), Is.EqualTo(1), "never two message_start events: " + string.Join(",", types));
            Assert.That(types[^1], Is.EqualTo("message_stop").Or.EqualTo("error"), "never a silent close: " + string.Join(",", types));
            if (types[^1] == "error")
            {
                Assert.That(types, Does.Contain("content_block_delta"), "an error only after content: before it, b takes over");
                Assert.That(types, Does.Not.Contain("message_stop"));
            }
            else
            {
                Assert.That(types, Does.Not.Contain("error"));
            }
        }

        Assert.That(during.Count(r => r.Events[^1].Type == "error"), Is.GreaterThan(0), "the kill cut the streams under way on a");
        foreach (var (status, events) in after)
        {
            AssertOneCleanAnswer(status, events);
        }

        Assert.That(B.Requests.Count, Is.GreaterThanOrEqualTo(after.Length), "requests after the kill are served by b");
    }

    [Test]
    public async Task StreamStallsAfterEventsThatAreNotContent_SecondChannelAnswersInvisibly()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
            [FakeAnthropic.MessageStart("m"), FakeAnthropic.Ping(), FakeAnthropic.Ping(), StreamStep.Delay(TimeSpan.FromSeconds(30))], ctx.RequestAborted);
        await using var gateway = await GatewayAsync(""" "timeouts": { "idle": 1 } """);

        var (status, events) = await StreamAsync(gateway);

        AssertOneCleanAnswer(status, events);
        Assert.That(B.Requests, Has.Count.EqualTo(1));
        Assert.That(gateway.Logs.All, Does.Contain("went silent before its first content"));
    }

    [Test]
    public async Task StreamStallsAfterContent_ClientGetsTextThenTimeoutError_SecondChannelNotUsed()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
            [FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "partial"), StreamStep.Delay(TimeSpan.FromSeconds(30))],
            ctx.RequestAborted);
        await using var gateway = await GatewayAsync(""" "timeouts": { "idle": 1 } """);

        var (status, events) = await StreamAsync(gateway);

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Text(events), Is.EqualTo("partial"));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1));
        Assert.That(events[^1].Type, Is.EqualTo("error"));
        Assert.That(ErrorType(events[^1]), Is.EqualTo("timeout_error"));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("message_stop"), "never a fake stop");
        Assert.That(B.Requests, Is.Empty, "committed to a at its first content");
    }
}
