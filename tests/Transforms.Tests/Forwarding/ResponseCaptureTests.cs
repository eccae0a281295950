using System.Text;
using System.Text.Json;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

using static CcxProxy.Transforms.Tests.Forwarding.RelayHarness;

namespace CcxProxy.Transforms.Tests.Forwarding;

/// <summary>
/// What the response cache keeps of an answer (<see cref="ResponseCapture"/>, filled by the real relay) and what a
/// hit sends (<see cref="ResponseReplay"/>): the replay of a relayed answer is what the relay sent the client.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class ResponseCaptureTests
{
    private const string Model = "claude-test";

    private static ResponsePlan AnthropicPassthrough(string model = Model) => new()
    {
        MapError = (status, body) => (status, body.ToArray()),
        ConvertJson = json => RequestJson.ReplaceModelIfPresent(json, model),
        CreateStreamConverter = () => new AnthropicPassthroughStream(model),
    };

    // An Anthropic channel behind an OpenAI Chat client.
    private static ResponsePlan ChatFromAnthropic(string model = Model) => new()
    {
        MapError = (status, body) => ErrorMapping.AnthropicToOpenAI(status, body.Span),
        ConvertJson = json => ChatClient.ConvertResponse(json.Span, model, TimeProvider.System),
        CreateStreamConverter = () => ChatClient.CreateStreamConverter(model, includeUsage: true, TimeProvider.System),
    };

    private static UpstreamCall Call(ResponsePlan plan, ResponseCapture? capture, WireProtocol client = WireProtocol.Anthropic) => new()
    {
        Time = TimeProvider.System,
        Body = ReadOnlyMemory<byte>.Empty,
        UpstreamPath = "/v1/messages",
        ClientModel = Model,
        UpstreamKey = "sk-test-upstream-key",
        Auth = UpstreamAuth.XApiKey,
        WireProtocol = client,
        UpstreamProtocol = WireProtocol.Anthropic,
        Plan = plan,
        Capture = capture,
        ChannelName = "test",
    };

    private static IEnumerable<StreamStep> TextStreamWithPings() =>
    [
        FakeAnthropic.MessageStart("upstream-model"),
        FakeAnthropic.Ping(),
        FakeAnthropic.TextBlockStart(0),
        FakeAnthropic.TextDelta(0, "Hello, "),
        FakeAnthropic.Ping(),
        FakeAnthropic.TextDelta(0, "world 🌍"),
        FakeAnthropic.BlockStop(0),
        FakeAnthropic.MessageDelta("end_turn", 7),
        FakeAnthropic.MessageStop(),
    ];

    private static string WithoutKeepAlives(string sse) =>
        sse.Replace("event: ping\ndata: {\"type\":\"ping\"}\n\n", "", StringComparison.Ordinal).Replace(": comment\n\n", "", StringComparison.Ordinal);

    [Test]
    public async Task Stream_ReplayedThroughTheSamePlan_IsWhatTheClientGot()
    {
        var capture = new ResponseCapture(1 << 20);
        var (attempt, _, relayed) = await RelayAsync(EventStream(": comment\n\n" + Frames(TextStreamWithPings())), Call(AnthropicPassthrough(), capture));
        Assert.That(attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        capture.Completed = true;

        var stored = capture.Answer!;
        Assert.That(stored.IsStream, Is.True);
        Assert.That(Encoding.UTF8.GetString(stored.Body.Span), Does.Not.Contain("ping").And.Not.Contain("comment"), "keep-alives are not the answer");

        var replayed = await ResponseReplay.RenderAsync(stored, Call(AnthropicPassthrough(), null), CancellationToken.None);
        Assert.That(replayed, Is.Not.Null);
        Assert.That(replayed!.IsStream, Is.True);
        Assert.That(Encoding.UTF8.GetString(replayed.Body.Span), Is.EqualTo(WithoutKeepAlives(relayed)));
        Assert.That(replayed.Usage!.OutputTokens, Is.EqualTo(7));
    }

    [Test]
    public async Task Stream_ReplayedForAnotherClientName_ReportsThatName()
    {
        var capture = new ResponseCapture(1 << 20) { Completed = true };
        await RelayAsync(EventStream(Frames(TextStreamWithPings())), Call(AnthropicPassthrough("sonnet"), capture));

        var replayed = await ResponseReplay.RenderAsync(capture.Answer!, Call(AnthropicPassthrough("claude-sonnet-4-6"), null), CancellationToken.None);

        var text = Encoding.UTF8.GetString(replayed!.Body.Span);
        Assert.That(text, Does.Contain("\"model\":\"claude-sonnet-4-6\"").And.Not.Contain("\"model\":\"sonnet\""));
    }

    [Test]
    public async Task Stream_ConvertedForAChatClient_IsAValidChatStream()
    {
        var capture = new ResponseCapture(1 << 20) { Completed = true };
        var (_, _, relayed) = await RelayAsync(EventStream(Frames(TextStreamWithPings())), Call(ChatFromAnthropic(), capture, WireProtocol.OpenAI));

        var replayed = await ResponseReplay.RenderAsync(capture.Answer!, Call(ChatFromAnthropic(), null, WireProtocol.OpenAI), CancellationToken.None);

        var text = Encoding.UTF8.GetString(replayed!.Body.Span);
        Assert.That(text, Does.EndWith("data: [DONE]\n\n"));
        Assert.That(Contents(text), Is.EqualTo("Hello, world 🌍"));
        Assert.That(Contents(text), Is.EqualTo(Contents(relayed)));
    }

    private static string Contents(string chatSse) => string.Concat(chatSse.Split("\n")
        .Where(line => line.StartsWith("data: {", StringComparison.Ordinal))
        .Select(line => JsonDocument.Parse(line["data: ".Length..]).RootElement)
        .Where(chunk => chunk.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0)
        .Select(chunk => chunk.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : ""));

    [Test]
    public async Task Json_ReplayedThroughTheSamePlan_IsWhatTheClientGot()
    {
        const string message = """{"id":"msg_1","type":"message","role":"assistant","model":"upstream-model","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}""";
        var capture = new ResponseCapture(1 << 20) { Completed = true };
        var (_, _, relayed) = await RelayAsync(JsonAnswer(200, message), Call(AnthropicPassthrough(), capture));

        var stored = capture.Answer!;
        Assert.That(stored.IsStream, Is.False);
        Assert.That(Encoding.UTF8.GetString(stored.Body.Span), Is.EqualTo(message), "kept as the upstream sent it");
        var replayed = await ResponseReplay.RenderAsync(stored, Call(AnthropicPassthrough(), null), CancellationToken.None);
        Assert.That(Encoding.UTF8.GetString(replayed!.Body.Span), Is.EqualTo(relayed));
        Assert.That(replayed.Usage!.InputTokens, Is.EqualTo(3));
    }

    [Test]
    public async Task LargerThanTheLimit_NothingKept()
    {
        var stream = Frames(FakeAnthropic.TextStream(Model, new string('x', 4000), 40));
        var capture = new ResponseCapture(1024) { Completed = true };
        var (attempt, _, relayed) = await RelayAsync(EventStream(stream), Call(AnthropicPassthrough(), capture));

        Assert.That(attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed), "the client still gets the whole answer");
        Assert.That(relayed, Does.Contain("message_stop"));
        Assert.That(capture.Overflowed, Is.True);
        Assert.That(capture.Answer, Is.Null);

        var json = new ResponseCapture(16) { Completed = true };
        await RelayAsync(JsonAnswer(200, """{"type":"message","content":[{"type":"text","text":"longer than sixteen bytes"}]}"""), Call(AnthropicPassthrough(), json));
        Assert.That(json.Answer, Is.Null);
    }

    [TestCase("""{"error":{"message":"upstream quota exceeded","type":"insufficient_quota"}}""")]
    [TestCase("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""")]
    [TestCase("""{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"error"}]}""")]
    public async Task ErrorSentWithHttp200_NeverKept(string body)
    {
        var plan = new ResponsePlan
        {
            MapError = (status, error) => (status, error.ToArray()),
            ConvertJson = json => json,
            CreateStreamConverter = () => new AnthropicPassthroughStream(Model),
        };
        var capture = new ResponseCapture(1 << 20) { Completed = true };
        var (_, _, relayed) = await RelayAsync(JsonAnswer(200, body), Call(plan, capture));

        Assert.That(relayed, Is.EqualTo(body), "relayed to the client as the host sent it");
        Assert.That(capture.Answer, Is.Null);
    }

    [Test]
    public async Task NotMarkedComplete_NothingKept()
    {
        var capture = new ResponseCapture(1 << 20);
        await RelayAsync(EventStream(Frames(TextStreamWithPings())), Call(AnthropicPassthrough(), capture));

        Assert.That(capture.Answer, Is.Null);
    }

    [Test]
    public async Task CutStoredStream_NotReplayed()
    {
        var cut = Frames(TextStreamWithPings().Take(4));
        var replayed = await ResponseReplay.RenderAsync(new StoredAnswer(true, Encoding.UTF8.GetBytes(cut)), Call(AnthropicPassthrough(), null), CancellationToken.None);

        Assert.That(replayed, Is.Null);
    }

    [TestCase("")]
    [TestCase("<html>")]
    [TestCase("""{"object":"not a message"}""")]
    public async Task StoredJsonThatIsNotAnAnswer_NotReplayed(string body)
    {
        var plan = AnthropicPassthrough() is var p ? new ResponsePlan
        {
            MapError = p.MapError,
            ConvertJson = json => json.Span.IndexOf("\"type\":\"message\""u8) >= 0 ? json : throw new JsonException("not a message"),
            CreateStreamConverter = p.CreateStreamConverter,
        } : null!;

        Assert.That(await ResponseReplay.RenderAsync(new StoredAnswer(false, Encoding.UTF8.GetBytes(body)), Call(plan, null), CancellationToken.None), Is.Null);
    }
}
