using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

using static CcxProxy.Transforms.Tests.Forwarding.RelayHarness;

namespace CcxProxy.Transforms.Tests.Forwarding;

/// <summary>
/// The relay's verdict on each kind of upstream answer (outcome, failure class, retry hint) and the
/// first-content timeout, in process: a <see cref="DefaultHttpContext"/> as the client, a pipe as the upstream.
/// Timings are generous and never asserted.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class ResponseRelayTests
{
    private const string Model = "claude-test";

    private static readonly ResponsePlan AnthropicPlan = new()
    {
        MapError = (status, body) => (status, body.ToArray()),
        // Only a message is an answer: anything else is JSON of the wrong protocol.
        ConvertJson = json => json.Span.IndexOf("\"type\":\"message\""u8) >= 0 ? json : throw new JsonException("not a message"),
        CreateStreamConverter = () => new AnthropicPassthroughStream(Model),
    };

    private static readonly ResponsePlan OpenAIPlan = new()
    {
        MapError = (status, body) => ErrorMapping.UpstreamToAnthropic(status, body.Span, null),
        ConvertJson = json => ChatUpstream.ConvertResponse(json.Span, Model, ToolNameMap.Identity),
        CreateStreamConverter = () => ChatUpstream.CreateStreamConverter(Model, ToolNameMap.Identity),
    };

    private static UpstreamCall Call(bool mayFailOver, WireProtocol upstream = WireProtocol.Anthropic,
        double idleSeconds = 20, double? firstContentSeconds = null, double pingSeconds = 20, TimeProvider? time = null, ResponsePlan? plan = null) => new()
    {
        Time = time ?? TimeProvider.System,
        Body = ReadOnlyMemory<byte>.Empty,
        UpstreamPath = "/v1/messages",
        ClientModel = Model,
        UpstreamKey = "sk-test",
        Auth = UpstreamAuth.XApiKey,
        MayFailOver = mayFailOver,
        UpstreamProtocol = upstream,
        Plan = plan ?? (upstream == WireProtocol.Anthropic ? AnthropicPlan : OpenAIPlan),
        IdleTimeout = TimeSpan.FromSeconds(idleSeconds),
        FirstContentTimeout = firstContentSeconds is { } s ? TimeSpan.FromSeconds(s) : Timeout.InfiniteTimeSpan,
        PingInterval = TimeSpan.FromSeconds(pingSeconds),
        ChannelName = "test",
    };

    /// <summary>An SSE upstream the test writes to; it stays open (silent) until completed.</summary>
    private static (HttpResponseMessage Response, PipeWriter Writer) OpenStream()
    {
        var pipe = new Pipe();
        return (EventStream(pipe.Reader.AsStream()), pipe.Writer);
    }

    private static ValueTask<FlushResult> WriteAsync(PipeWriter writer, string text) => writer.WriteAsync(Encoding.UTF8.GetBytes(text));

    private const string GeminiBrokenTurn = """{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}""";

    private const string ErrorBody = """{"type":"error","error":{"type":"x","message":"m"}}""";

    [TestCase(401, true, FailureKind.KeyRejected, AttemptOutcome.Retryable)]
    [TestCase(401, false, FailureKind.KeyRejected, AttemptOutcome.Completed)]
    [TestCase(403, true, FailureKind.KeyRejected, AttemptOutcome.Retryable)]
    [TestCase(403, false, FailureKind.KeyRejected, AttemptOutcome.Completed)]
    [TestCase(429, true, FailureKind.RateLimited, AttemptOutcome.Retryable)]
    [TestCase(429, false, FailureKind.RateLimited, AttemptOutcome.Completed)]
    [TestCase(529, true, FailureKind.Overloaded, AttemptOutcome.Retryable)]
    [TestCase(503, false, FailureKind.Overloaded, AttemptOutcome.Completed)]
    [TestCase(500, true, FailureKind.ServerError, AttemptOutcome.Retryable)]
    [TestCase(502, false, FailureKind.ServerError, AttemptOutcome.Completed)]
    [TestCase(504, true, FailureKind.ServerError, AttemptOutcome.Completed)]
    [TestCase(520, false, FailureKind.ServerError, AttemptOutcome.Completed)]
    [TestCase(400, true, FailureKind.None, AttemptOutcome.Completed)]
    [TestCase(404, true, FailureKind.None, AttemptOutcome.Completed)]
    [TestCase(408, false, FailureKind.None, AttemptOutcome.Completed)]
    [TestCase(409, false, FailureKind.None, AttemptOutcome.Completed)]
    [TestCase(413, true, FailureKind.None, AttemptOutcome.Completed)]
    [TestCase(422, false, FailureKind.None, AttemptOutcome.Completed)]
    public async Task ErrorStatus_Classified(int status, bool mayFailOver, FailureKind failure, AttemptOutcome outcome)
    {
        var relayed = await RelayAsync(JsonAnswer(status, ErrorBody), Call(mayFailOver));

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(failure));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(outcome));
        Assert.That(relayed.Attempt.RetryReason, Is.EqualTo(outcome == AttemptOutcome.Retryable ? $"HTTP {status}" : null));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task ConvertedAnswerThatIsAnError_Is502NotA200(bool mayFailOver)
    {
        // A Gemini upstream's 200 whose turn broke off converts to an Anthropic error: the client must not get it under 200.
        var plan = new ResponsePlan
        {
            MapError = (status, body) => (status, body.ToArray()),
            ConvertJson = _ => new ConvertedAnswer(ErrorBodies.Anthropic("api_error", "the upstream model's turn broke off (MALFORMED_FUNCTION_CALL)", requestId: null), UpstreamFailed: true),
            CreateStreamConverter = () => new AnthropicPassthroughStream(Model),
        };

        var relayed = await RelayAsync(JsonAnswer(200, GeminiBrokenTurn), Call(mayFailOver, WireProtocol.Gemini, plan: plan));

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.BadAnswer));
        if (mayFailOver)
        {
            Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Retryable), "another candidate answers instead");
            return;
        }

        Assert.That(relayed.Status, Is.EqualTo(502));
        Assert.That(relayed.Body, Does.Contain("\"type\":\"error\"").And.Contain("MALFORMED_FUNCTION_CALL"));
    }

    [Test]
    public async Task PassedThroughErrorIn200_IsTheUpstreamsOwnAnswer()
    {
        // Same protocol on both sides: what the upstream said under 200 is relayed as it said it.
        var relayed = await RelayAsync(JsonAnswer(200, ErrorBody), Call(mayFailOver: false, plan: new ResponsePlan
        {
            MapError = (status, body) => (status, body.ToArray()),
            ConvertJson = json => json,
            CreateStreamConverter = () => new AnthropicPassthroughStream(Model),
        }));

        Assert.That(relayed.Status, Is.EqualTo(200));
        Assert.That(relayed.Body, Is.EqualTo(ErrorBody));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task RateLimited_RetryAfterRead(bool mayFailOver)
    {
        var relayed = await RelayAsync(JsonAnswer(429, ErrorBody, "retry-after: 7"), Call(mayFailOver));

        Assert.That(relayed.Attempt.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(7)));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.RateLimited));
    }

    [Test]
    public async Task Overloaded_RetryAfterMsRead() =>
        Assert.That((await RelayAsync(JsonAnswer(529, ErrorBody, "retry-after-ms: 1500", "retry-after: 9"), Call(true))).Attempt.RetryAfter,
            Is.EqualTo(TimeSpan.FromMilliseconds(1500)));

    [Test]
    public async Task ClientMistake_RetryAfterStillRead_NoFailure()
    {
        var relayed = await RelayAsync(JsonAnswer(400, ErrorBody, "retry-after: 3"), Call(true));

        Assert.That(relayed.Attempt.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
    }

    [Test]
    public async Task Success_RetryAfterIgnored_NoFailure()
    {
        var relayed = await RelayAsync(JsonAnswer(200, """{"type":"message","content":[]}""", "retry-after: 3"), Call(false));

        Assert.That(relayed.Attempt.RetryAfter, Is.Null);
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
    }

    [TestCase("", true, "empty answer")]
    [TestCase("<html>captive portal</html>", true, "an answer that is not JSON")]
    [TestCase("", false, null)]
    [TestCase("<html>captive portal</html>", false, null)]
    [TestCase("""{"object":"chat.completion"}""", false, null)]
    public async Task BadAnswer_Classified(string body, bool mayFailOver, string? reason)
    {
        var relayed = await RelayAsync(JsonAnswer(200, body), Call(mayFailOver));

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.BadAnswer));
        Assert.That(relayed.Attempt.RetryReason, Is.EqualTo(reason));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(reason is null ? AttemptOutcome.Completed : AttemptOutcome.Retryable));
        if (reason is null)
        {
            Assert.That(relayed.Status, Is.EqualTo(502));
        }
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task Stream_Complete_NoFailure(bool mayFailOver)
    {
        var relayed = await RelayAsync(EventStream(new MemoryStream(Encoding.UTF8.GetBytes(Frames(FakeAnthropic.TextStream(Model, "hello", 2))))), Call(mayFailOver));

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
        Assert.That(relayed.Body, Does.Contain("message_stop"));
    }

    public static IEnumerable<TestCaseData> StreamFailures()
    {
        var start = Frames(FakeAnthropic.MessageStart(Model), FakeAnthropic.Ping());
        var content = Frames(FakeAnthropic.MessageStart(Model), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "partial"));
        var error = Frames(FakeAnthropic.Error("overloaded_error", "Overloaded"));
        yield return new TestCaseData(start + error, true, AttemptOutcome.Retryable, "an error event before its first content").SetArgDisplayNames("error before content, held");
        yield return new TestCaseData(start + error, false, AttemptOutcome.Completed, null).SetArgDisplayNames("error before content, relayed");
        yield return new TestCaseData(content + error, true, AttemptOutcome.Completed, null).SetArgDisplayNames("error after content");
        yield return new TestCaseData(start, true, AttemptOutcome.Retryable, "the stream ended before its first content").SetArgDisplayNames("ends before content, held");
        yield return new TestCaseData(start, false, AttemptOutcome.UpstreamCut, null).SetArgDisplayNames("ends before content, relayed");
        yield return new TestCaseData(content, true, AttemptOutcome.UpstreamCut, null).SetArgDisplayNames("ends after content");
    }

    [TestCaseSource(nameof(StreamFailures))]
    public async Task Stream_Failure_StreamFailed(string upstream, bool mayFailOver, AttemptOutcome outcome, string? reason)
    {
        var relayed = await RelayAsync(EventStream(new MemoryStream(Encoding.UTF8.GetBytes(upstream))), Call(mayFailOver));

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.StreamFailed));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(outcome));
        Assert.That(relayed.Attempt.RetryReason, Is.EqualTo(reason));
        if (outcome != AttemptOutcome.Retryable)
        {
            Assert.That(relayed.Body, Does.Contain("event: error"));
        }
    }

    [TestCase(true, AttemptOutcome.Retryable)]
    [TestCase(false, AttemptOutcome.UpstreamCut)]
    public async Task Stream_Broken_StreamFailed(bool beforeContent, AttemptOutcome outcome)
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, beforeContent
            ? Frames(FakeAnthropic.MessageStart(Model))
            : Frames(FakeAnthropic.MessageStart(Model), FakeAnthropic.TextBlockStart(0)));
        // A pipe completed with an error throws at once, buffered data or not: cut only once the relay has read.
        var cut = Task.Run(async () =>
        {
            await Task.Delay(300);
            await writer.CompleteAsync(new IOException("connection reset"));
        });

        var relayed = await RelayAsync(response, Call(mayFailOver: true));
        await cut;

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.StreamFailed));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(outcome));
    }

    // An event the converter cannot read (JSON of another shape): never an exception into YARP, which would cut the
    // connection mid-stream; a broken stream, as a cut one is.
    [TestCase(true, AttemptOutcome.Retryable)]
    [TestCase(false, AttemptOutcome.UpstreamCut)]
    public async Task Stream_EventOfAnotherShape_StreamFailed_ErrorEventNotACut(bool beforeContent, AttemptOutcome outcome)
    {
        var plan = new ResponsePlan
        {
            MapError = AnthropicPlan.MapError,
            ConvertJson = AnthropicPlan.ConvertJson,
            CreateStreamConverter = () => new ThrowsOnShape(new AnthropicPassthroughStream(Model)),
        };
        // Before content, an event that does not begin the answer (a ping); after it, a delta.
        var upstream = beforeContent
            ? Frames(FakeAnthropic.MessageStart(Model)) + "event: ping\ndata: {\"type\":\"ping\",\"index\":\"shape\"}\n\n"
            : Frames(FakeAnthropic.MessageStart(Model), FakeAnthropic.TextBlockStart(0)) + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":\"shape\"}\n\n";

        var relayed = await RelayAsync(EventStream(new MemoryStream(Encoding.UTF8.GetBytes(upstream))), Call(mayFailOver: beforeContent, plan: plan));

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.StreamFailed));
        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(outcome));
        if (!beforeContent)
        {
            Assert.That(relayed.Body, Does.EndWith("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the upstream sent an event the gateway could not read; the stream was ended\"}}\n\n"));
        }
    }

    /// <summary>A converter that reads an event's <c>index</c> as a number, as the real ones read their fields: a string there throws.</summary>
    private sealed class ThrowsOnShape(IStreamConverter inner) : IStreamConverter
    {
        public bool Finished => inner.Finished;

        public StreamUsage Usage => inner.Usage;

        public void Begin(System.Buffers.IBufferWriter<byte> output) => inner.Begin(output);

        public void Convert(in CcxProxy.Transforms.Sse.SseEvent upstreamEvent, System.Buffers.IBufferWriter<byte> output)
        {
            using var document = JsonDocument.Parse(upstreamEvent.DataUtf8);
            if (document.RootElement.TryGetProperty("index", out var index))
            {
                _ = index.GetInt32();
            }

            inner.Convert(upstreamEvent, output);
        }

        public bool End(System.Buffers.IBufferWriter<byte> output) => inner.End(output);

        public void Fail(string anthropicErrorType, string message, System.Buffers.IBufferWriter<byte> output) => inner.Fail(anthropicErrorType, message, output);

        public void Ping(System.Buffers.IBufferWriter<byte> output) => inner.Ping(output);
    }

    [TestCase("""{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"error"}]}""", TestName = "OpenAI finish_reason error")]
    [TestCase("""{"error":{"message":"The server had an error","type":"server_error"}}""", TestName = "OpenAI error chunk")]
    public async Task OpenAIStream_ErrorAfterContent_StreamFailed(string chunk)
    {
        var upstream = Frames(FakeOpenAI.RoleChunk(), FakeOpenAI.TextChunk("partial"), StreamStep.DataOnly(chunk));

        var relayed = await RelayAsync(EventStream(new MemoryStream(Encoding.UTF8.GetBytes(upstream))), Call(mayFailOver: true, WireProtocol.OpenAI));

        Assert.That(relayed.Body, Does.Contain("event: error"));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.StreamFailed));
    }

    [Test]
    public async Task FirstContentTimeout_NotHeld_ErrorEvent_AfterKeepAlives()
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, Frames(FakeAnthropic.MessageStart(Model)));

        var relayed = await RelayAsync(response, Call(mayFailOver: false, firstContentSeconds: 1.5, pingSeconds: 0.2));

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.FirstContentTimeout));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.FirstContentTimeout));
        Assert.That(relayed.Body, Does.Contain("event: ping"), "keep-alives while waiting");
        Assert.That(relayed.Body, Does.Contain("timeout_error").And.Contain("no content within 1.5 s"));
        Assert.That(relayed.Body, Does.Not.Contain("message_stop"));
        await writer.CompleteAsync();
    }

    [Test]
    public async Task FirstContentTimeout_Held_Retryable_NothingSent()
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, Frames(FakeAnthropic.MessageStart(Model), FakeAnthropic.Ping()));

        var relayed = await RelayAsync(response, Call(mayFailOver: true, firstContentSeconds: 0.5));

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Retryable));
        Assert.That(relayed.Attempt.RetryReason, Is.EqualTo("no content within 0.5 s"));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.FirstContentTimeout));
        Assert.That(relayed.Body, Is.Empty);
        await writer.CompleteAsync();
    }

    [TestCase(true, AttemptOutcome.Retryable)]
    [TestCase(false, AttemptOutcome.IdleTimeout)]
    public async Task IdleTimeoutBeforeContent_ShorterThanFirstContentBudget_IsIdleTimeout(bool mayFailOver, AttemptOutcome outcome)
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, Frames(FakeAnthropic.MessageStart(Model)));

        var relayed = await RelayAsync(response, Call(mayFailOver, idleSeconds: 0.5, firstContentSeconds: 15));

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(outcome));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.IdleTimeout));
        if (mayFailOver)
        {
            Assert.That(relayed.Attempt.RetryReason, Is.EqualTo("the stream went silent before its first content"));
        }

        await writer.CompleteAsync();
    }

    [Test]
    public async Task SilentAfterContent_TheCallsClockDrivesKeepAlivesAndTheIdleTimeout()
    {
        // Ten minutes of silence on the call's clock, played in a moment: the relay waits on that clock, not the machine's.
        var clock = new FakeTimeProvider();
        var (response, writer) = OpenStream();
        var steps = FakeAnthropic.TextStream(Model, "then nothing", 4).OfType<StreamStep.Frame>().ToList();
        await WriteAsync(writer, Frames(steps.Take(4)));

        var relaying = RelayAsync(response, Call(mayFailOver: false, idleSeconds: 600, pingSeconds: 60, time: clock));
        while (!relaying.IsCompleted)
        {
            clock.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(5);
        }

        var relayed = await relaying;
        await writer.CompleteAsync();

        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.IdleTimeout));
        Assert.That(relayed.Body, Does.Contain("event: ping"), "keep-alives while the upstream was silent");
        Assert.That(relayed.Body, Does.Contain("event: error").And.Not.Contain("message_stop"));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task AfterFirstContent_OnlyIdleTimeoutApplies(bool mayFailOver)
    {
        var (response, writer) = OpenStream();
        var steps = FakeAnthropic.TextStream(Model, "a slow but steady answer", 8).OfType<StreamStep.Frame>().ToList();
        // First content at once; then an event every 0.25 s for about 2 s, well past the 0.5 s first-content budget.
        await WriteAsync(writer, Frames(steps.Take(3)));
        var feed = Task.Run(async () =>
        {
            foreach (var step in steps.Skip(3))
            {
                await Task.Delay(250);
                await WriteAsync(writer, Frames(step));
            }

            await writer.CompleteAsync();
        });

        var relayed = await RelayAsync(response, Call(mayFailOver, idleSeconds: 5, firstContentSeconds: 0.5));
        await feed;

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
        Assert.That(relayed.Body, Does.Contain("message_stop").And.Not.Contain("event: error"));
    }

    [Test]
    public async Task FirstContentTimeout_Infinite_WaitsForContent()
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, Frames(FakeAnthropic.MessageStart(Model)));
        var feed = Task.Run(async () =>
        {
            await Task.Delay(600);
            await WriteAsync(writer, Frames(FakeAnthropic.TextStream(Model, "late", 1).Skip(1)));
            await writer.CompleteAsync();
        });

        var relayed = await RelayAsync(response, Call(mayFailOver: true, idleSeconds: 5));
        await feed;

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task ClientGone_NotAFailure(bool mayFailOver)
    {
        var (response, writer) = OpenStream();
        await WriteAsync(writer, Frames(FakeAnthropic.MessageStart(Model)));
        using var client = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        var relayed = await RelayAsync(response, Call(mayFailOver, idleSeconds: 10, firstContentSeconds: 10), client.Token);

        Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.ClientAborted));
        Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None));
        await writer.CompleteAsync();
    }

    [Test]
    public void Attempt_StartedTimestamp_TakenAtCreation()
    {
        var before = System.Diagnostics.Stopwatch.GetTimestamp();
        using var attempt = new UpstreamAttempt(TimeProvider.System, Timeout.InfiniteTimeSpan, CancellationToken.None);

        Assert.That(attempt.StartedTimestamp, Is.InRange(before, System.Diagnostics.Stopwatch.GetTimestamp()));
        Assert.That(attempt.Result().Failure, Is.EqualTo(FailureKind.None));
        Assert.That(attempt.Result().RetryAfter, Is.Null);
    }

    [Test]
    public async Task OpenAIStream_FinishReasonThenEofWithoutDone_CompletedNotAFailure()
    {
        var chunks =
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"hi\"}}]}\n\n" +
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";

        var relayed = await RelayAsync(EventStream(new MemoryStream(Encoding.UTF8.GetBytes(chunks))), Call(mayFailOver: false, WireProtocol.OpenAI));

        Assert.Multiple(() =>
        {
            Assert.That(relayed.Attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
            Assert.That(relayed.Attempt.Failure, Is.EqualTo(FailureKind.None), "a finished answer whose [DONE] was lost is not an upstream failure");
            Assert.That(relayed.Body, Does.Contain("message_stop").And.Not.Contain("event: error"));
        });
    }
}
