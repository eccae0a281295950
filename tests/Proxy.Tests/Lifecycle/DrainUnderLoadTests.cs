using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Lifecycle;

/// <summary>
/// The drain with requests still arriving: plain requests keep coming from two workers while long streams
/// run and the host stops (the path SIGTERM takes). Every request the gateway accepts is answered; only
/// after the delay, once the listener is closed, may new connections be refused; the streams still
/// running end at the drain deadline with an <c>overloaded_error</c> event. GracefulShutdownTests covers
/// the single-request sequence; this is the same under load.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class DrainUnderLoadTests
{
    private static readonly TimeSpan s_delay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan s_drain = TimeSpan.FromSeconds(3);

    // How close to the listener's closing a request may begin and still find it closed (see the assertion).
    private static readonly TimeSpan s_closeRace = TimeSpan.FromMilliseconds(250);

    private static string Body(bool stream) =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    private enum Outcome
    {
        Ok,
        Refused,

        /// <summary>The connection closed or reset before any response: the request was not taken.</summary>
        NotTaken,
        Failed,
    }

    [Test]
    public async Task Stop_WhileRequestsArrive_AcceptedRequestsAllServed_LongStreamsEndWithOverloadedError()
    {
        using var upstream = WireMockUpstream.StartProvider();
        var longStream = new List<StreamStep> { FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0) };
        for (var i = 0; i < 50; i++)
        {
            longStream.Add(StreamStep.Delay(TimeSpan.FromMilliseconds(200)));
            longStream.Add(FakeAnthropic.TextDelta(0, $"t{i} "));
        }

        longStream.AddRange([FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 50), FakeAnthropic.MessageStop()]);
        upstream.Given(Request.Create().WithBody(new JsonPartialMatcher("""{"stream":true}""")))
            .RespondWith(Response.Create().WithEvents(_ => longStream));
        var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) },
            new Dictionary<string, string?>
            {
                ["Shutdown:DelaySeconds"] = s_delay.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Shutdown:DrainSeconds"] = s_drain.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            });
        await using var _ = gateway;

        // Five long streams, each under way (headers and first content received) before the stop.
        var streams = new List<(HttpResponseMessage Response, Task<string> Body)>();
        for (var i = 0; i < 5; i++)
        {
            var response = await gateway.Client.SendAsync(gateway.Post("/v1/messages", Body(true)), HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            streams.Add((response, response.Content.ReadAsStringAsync()));
        }

        // Plain requests from two workers, from before the stop until it completes.
        var clock = Stopwatch.StartNew();
        TimeSpan? stopCalledAt = null;
        using var stopLoad = new CancellationTokenSource();
        var results = new ConcurrentQueue<(Outcome Outcome, TimeSpan Started, TimeSpan Ended, string Detail)>();
        var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stopLoad.IsCancellationRequested && results.Count < 10_000)
            {
                var started = clock.Elapsed;
                var (outcome, detail) = await SendPlainAsync(gateway);
                results.Enqueue((outcome, started, clock.Elapsed, detail));
                if (outcome != Outcome.Ok)
                {
                    // Refused connections come back at once: do not spin.
                    await Task.Delay(20);
                }
            }
        })).ToList();

        // Some load before the stop.
        while (results.Count(r => r.Outcome == Outcome.Ok) < 4 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        stopCalledAt = clock.Elapsed;
        var stopping = gateway.StopAsync();

        // Readiness off at once, while the listener still accepts.
        using (var readiness = await gateway.Client.GetAsync("/readyz").WaitAsync(TimeSpan.FromSeconds(10)))
        {
            Assert.That(readiness.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        }

        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        var stopTook = clock.Elapsed - stopCalledAt.Value;
        await stopLoad.CancelAsync();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(30));

        var all = results.ToList();
        // Until the delay is over every request must be answered; after it, the listener is closed and a request
        // may find no one to take it (refused, reset, closed), but one that was taken is never failed or cut.
        // The listener closes when the host's own delay timer fires, measured on another clock than Started: a
        // request that began a moment before may still meet it, and is then not taken, not failed.
        var failed = all.Where(r => r.Outcome == Outcome.Failed
            || (r.Outcome == Outcome.NotTaken && r.Started < stopCalledAt + s_delay - s_closeRace)).ToList();
        Assert.That(failed.Select(r => $"{r.Started.TotalSeconds:0.00}s-{r.Ended.TotalSeconds:0.00}s {r.Detail}"), Is.Empty,
            "no accepted request failed (5xx, reset, or an answer cut short)");
        // Begun during the delay and answered: on a loaded machine the answer itself may come after the delay ends.
        var duringDelay = all.Count(r => r.Started > stopCalledAt && r.Started < stopCalledAt + s_delay - s_closeRace && r.Outcome == Outcome.Ok);
        Assert.That(duringDelay, Is.GreaterThan(0), "plain requests were served while the delay lasted");
        // The listener closes no earlier than the delay after the stop began: a refusal before that is a failure.
        Assert.That(all.Where(r => r.Outcome is Outcome.Refused or Outcome.NotTaken).Select(r => r.Ended - stopCalledAt!.Value),
            Has.All.GreaterThanOrEqualTo(s_delay - s_closeRace), "connections are refused only once the delay is over");

        // The long streams, still running at the drain deadline, end with an error event, never silently.
        foreach (var (response, body) in streams)
        {
            using (response)
            {
                var events = SseText.Parse(await body.WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.That(events.Select(e => e.Type), Does.Contain("content_block_delta"));
                Assert.That(events.Select(e => e.Type), Does.Not.Contain("message_stop"));
                Assert.That(events[^1].Type, Is.EqualTo("error"));
                Assert.That(JsonNode.Parse(events[^1].Data)!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("overloaded_error"));
            }
        }

        Assert.That(stopTook, Is.LessThan(s_delay + s_drain + TimeSpan.FromSeconds(5)), "stopped within delay + drain (+ the host's margin)");
    }

    /// <summary>One plain request: served, refused at connect (the listener is closed), or failed in any other way.</summary>
    private static async Task<(Outcome, string)> SendPlainAsync(TestGateway gateway)
    {
        try
        {
            HttpResponseMessage response;
            try
            {
                // Headers first, the body apart: a failure before the status line and one after it are different outcomes.
                response = await gateway.Client.SendAsync(gateway.Post("/v1/messages", Body(false)), HttpCompletionOption.ResponseHeadersRead)
                    .WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                return (Outcome.Refused, "");
            }
            catch (HttpRequestException ex)
            {
                // No status line came back (closed, or reset, before any answer): the gateway never took this request
                // (a connection the kernel accepted as the listener closed, or a pooled one closed as it was reused).
                return (Outcome.NotTaken, ex.HttpRequestError + ": " + ex.InnerException?.Message);
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
                return response.StatusCode == HttpStatusCode.OK && text.Contains(FakeUpstreamOptions.DefaultText, StringComparison.Ordinal)
                    ? (Outcome.Ok, "")
                    : (Outcome.Failed, $"HTTP {(int)response.StatusCode}: {text}");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or TimeoutException)
        {
            return (Outcome.Failed, ex.GetType().Name + ": " + ex.Message + " / " + ex.InnerException?.Message);
        }
    }
}
