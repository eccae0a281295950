using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// A channel's <c>timeouts.firstContent</c>: a stream that keeps the connection busy (pings, role-only chunks)
/// but sends no content in time is failed over while nothing reached the client, or ended with a
/// <c>timeout_error</c> event when it is the last candidate; once content flows, only the idle timeout applies.
/// Margins are wide (a shared, noisy machine); no timing is asserted. On the Kestrel fake: the upstream stalls after
/// its headers until the gateway gives up, which WireMock cannot do.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class FirstContentTimeoutTests : TwoUpstreams
{
    private const string Timeouts = """ "timeouts": { "firstContent": 1, "idle": 5 } """;

    private static string Body() =>
        """{"model":"claude-sonnet-4-6","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>
    /// A first event and at once a keep-alive (so one surely arrives however late a loaded machine starts the
    /// stream), then a keep-alive every 0.2 s, bounded (30 s) so a broken gateway cannot hang the upstream.
    /// </summary>
    private static IEnumerable<StreamStep> ThenKeepAlives(StreamStep first, StreamStep keepAlive)
    {
        yield return first;
        yield return keepAlive;
        for (var i = 0; i < 150; i++)
        {
            yield return StreamStep.Delay(TimeSpan.FromSeconds(0.2));
            yield return keepAlive;
        }
    }

    private static string Text(IEnumerable<(string? Type, string Data)> events) =>
        string.Concat(events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!["text"]!.GetValue<string>()));

    [Test]
    public async Task OnlyPingsPastFirstContent_LastCandidate_ClientGetsTimeoutErrorEvent()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, ThenKeepAlives(FakeAnthropic.MessageStart("m"), FakeAnthropic.Ping()), ctx.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            // A longer budget here, so that several upstream pings surely come before it runs out.
            ["a-only.json"] = TestGateway.AnthropicChannel(A.BaseUrl, """ "timeouts": { "firstContent": 2, "idle": 5 } """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.First().Type, Is.EqualTo("message_start"));
        Assert.That(events.Count(e => e.Type == "ping"), Is.GreaterThanOrEqualTo(1));
        Assert.That(events.Last().Type, Is.EqualTo("error"));
        Assert.That(JsonNode.Parse(events.Last().Data)!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("timeout_error"));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("message_stop"));
    }

    [Test]
    public async Task OnlyPingsPastFirstContent_SecondChannelAnswers_OneCleanStream()
    {
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, ThenKeepAlives(FakeAnthropic.MessageStart("m"), FakeAnthropic.Ping()), ctx.RequestAborted);

        await SecondChannelAnswersAsync(TestGateway.AnthropicChannel(A.BaseUrl, """ "priority": 0, """ + Timeouts));
    }

    [Test]
    public async Task OpenAIChannel_RoleChunkThenOnlyComments_SecondChannelAnswers()
    {
        // Comments keep the idle timeout from firing (as OpenRouter's ": OPENROUTER PROCESSING" does).
        A.Handler = (_, ctx) => FakeOpenAI.WriteChatStreamAsync(ctx,
            ThenKeepAlives(FakeOpenAI.RoleChunk("m"), StreamStep.Raw(": PROCESSING\n\n")), ctx.RequestAborted);

        await SecondChannelAnswersAsync(TestGateway.OpenAIChannel(A.BaseUrl, """ "priority": 0, """ + Timeouts));
    }

    /// <summary>With <paramref name="firstChannel"/> stalling before content, the second channel's answer is the one clean stream the client sees.</summary>
    private async Task SecondChannelAnswersAsync(string firstChannel)
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a-first.json"] = firstChannel,
            ["b-second.json"] = TestGateway.AnthropicChannel(B.BaseUrl, """ "priority": 1 """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Count(e => e.Type == "message_start"), Is.EqualTo(1), "one clean answer");
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(Text(events), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(A.Requests, Has.Count.EqualTo(1));
        Assert.That(B.Requests, Has.Count.EqualTo(1));
        Assert.That(gateway.Logs.All, Does.Contain("no content within 1 s").And.Contain("trying channel b-second"));
    }

    [Test]
    public async Task ContentBeforeDeadline_ThenSlowSteadyStream_Completes()
    {
        // First content at about 0.5 s (budget 2.5 s: a loaded machine may be late), then an event every
        // 0.5 s for over 3 s (idle 2 s): the first-content budget stops applying once content has come.
        var pieces = Enumerable.Range(0, 7).Select(i => $"part{i} ").ToArray();
        var steps = new List<StreamStep>
        {
            FakeAnthropic.MessageStart("m"),
            StreamStep.Delay(TimeSpan.FromSeconds(0.5)),
            FakeAnthropic.TextBlockStart(0),
        };
        foreach (var piece in pieces)
        {
            steps.Add(StreamStep.Delay(TimeSpan.FromSeconds(0.5)));
            steps.Add(FakeAnthropic.TextDelta(0, piece));
        }

        steps.AddRange([FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 7), FakeAnthropic.MessageStop()]);
        A.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, steps, ctx.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a-only.json"] = TestGateway.AnthropicChannel(A.BaseUrl, """ "timeouts": { "firstContent": 2.5, "idle": 2 } """),
        });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("error"));
        Assert.That(events.Last().Type, Is.EqualTo("message_stop"));
        Assert.That(Text(events), Is.EqualTo(string.Concat(pieces)));
    }
}
