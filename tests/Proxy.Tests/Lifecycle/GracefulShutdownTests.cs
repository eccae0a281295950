using System.Diagnostics;
using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Lifecycle;

/// <summary>
/// Shutdown the way Kubernetes does it: readiness off at once, new requests still served during the delay,
/// streams in flight finish within the drain time, a stream still running at the deadline ends with an
/// error event, and the process stops in time. On the Kestrel fake: its streams stall until the gateway cuts them,
/// which WireMock cannot do.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GracefulShutdownTests
{
    private static string Body(bool stream) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    [Test]
    public async Task Stop_ReadinessOffAtOnce_NewRequestsServedDuringDelay_StreamsFinishOrEndWithError()
    {
        var finishing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await FakeUpstream.StartAsync();
        upstream.Handler = (request, ctx) => request.Json!["messages"]![0]!["content"]!.GetValue<string>() switch
        {
            // A stream that finishes when the test says so, and one that never does.
            "finishes" => FakeAnthropic.WriteStreamAsync(ctx, [FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "a"),
                StreamStep.Wait(finishing.Task), FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 1), FakeAnthropic.MessageStop()], ctx.RequestAborted),
            "never" => FakeAnthropic.WriteStreamAsync(ctx, [FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "b"),
                StreamStep.Wait(Task.Delay(Timeout.Infinite, ctx.RequestAborted))], ctx.RequestAborted),
            _ => FakeUpstream.CreateDefaultHandler(new FakeUpstreamOptions())(request, ctx),
        };
        var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl) },
            new Dictionary<string, string?> { ["Shutdown:DelaySeconds"] = "1.5", ["Shutdown:DrainSeconds"] = "2" });
        await using var _ = gateway;

        async Task<HttpResponseMessage> OpenStreamAsync(string content)
        {
            var request = gateway.Post("/v1/messages", Body(true).Replace("\"hi\"", $"\"{content}\"", StringComparison.Ordinal));
            var response = await gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            return response;
        }

        using var finishes = await OpenStreamAsync("finishes");
        using var never = await OpenStreamAsync("never");
        var finishesBody = finishes.Content.ReadAsStringAsync();
        var neverBody = never.Content.ReadAsStringAsync();

        var clock = Stopwatch.StartNew();
        var stopping = gateway.StopAsync();

        // Readiness off at once, while new requests are still served (endpoint removal is propagating).
        using var readiness = await gateway.Client.GetAsync("/readyz");
        Assert.That(readiness.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await readiness.Content.ReadAsStringAsync(), Does.Contain("shutting_down"));
        var (plain, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(false)));
        Assert.That(plain.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a plain request during the delay is served");

        // The stream that can finish does, completely.
        finishing.SetResult();
        var finished = SseText.Parse(await finishesBody.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.That(finished.Last().Type, Is.EqualTo("message_stop"));

        // The one that cannot ends at the drain deadline with an error event, not a silent cut.
        var ended = SseText.Parse(await neverBody.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.That(ended.Last().Type, Is.EqualTo("error"));
        Assert.That(ended.Last().Data, Does.Contain("shutting down"));

        await stopping.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1.5 + 2 + 5)), "stopped within delay + drain (+ the host's margin)");
    }
}
