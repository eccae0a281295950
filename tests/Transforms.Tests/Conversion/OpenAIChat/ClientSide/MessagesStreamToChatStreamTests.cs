using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Sse;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide.AnthropicFixtures;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

/// <summary>
/// docs/protocols.md §3.3 for Anthropic SSE → OpenAI chunks (an OpenAI client on an Anthropic channel); the opposite
/// direction is tested in Conversion/AnthropicToOpenAI/ChatToMessagesStreamTests.cs.
/// </summary>
[TestFixture]
public sealed class MessagesStreamToChatStreamTests
{
    private static IStreamConverter Converter(bool includeUsage = true) =>
        ChatClient.CreateStreamConverter("gpt-4o", includeUsage, StreamHarness.Created, "fixed");

    private static string Chunk(string delta, string? finish = null, string id = "chatcmpl-msg_1") =>
        """{"id":""" + "\"" + id + "\"" + ""","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":""" +
        delta + ""","logprobs":null,"finish_reason":""" + (finish is null ? "null" : "\"" + finish + "\"") + "}]}";

    private static string UsageChunk(string usage, string id = "chatcmpl-msg_1") =>
        """{"id":""" + "\"" + id + "\"" + ""","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[],"usage":""" + usage + "}";

    private static async Task<List<string>> RunAsync(byte[] upstream, bool trickle, bool includeUsage = true) =>
        await StreamHarness.DataAsync(await StreamHarness.RunAsync(Converter(includeUsage), upstream, trickle));

    [TestCase(false)]
    [TestCase(true)]
    public async Task PlainText_GivesTheExactChunkSequence(bool trickle)
    {
        var frames = await RunAsync(TextStream(), trickle);

        Assert.That(frames, Is.EqualTo(new[]
        {
            Chunk("""{"role":"assistant","content":""}"""),
            Chunk("""{"content":"Hel"}"""),
            Chunk("""{"content":"lo"}"""),
            Chunk("{}", "stop"),
            UsageChunk("""{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":0}}"""),
            "[DONE]",
        }));
    }

    [Test]
    public async Task Output_IsDataOnly_WithoutEventLines()
    {
        var output = Encoding.UTF8.GetString(await StreamHarness.RunAsync(Converter(), TextStream(), trickle: false));

        Assert.That(output, Does.Not.Contain("event:"));
        Assert.That(output, Does.EndWith("data: [DONE]\n\n"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task Case06_ParallelToolsAfterThinkingAndText_AreIndexed012(bool trickle)
    {
        var frames = await RunAsync(ParallelToolsStream(), trickle);

        Assert.That(frames, Is.EqualTo(new[]
        {
            Chunk("""{"role":"assistant","content":""}"""),
            Chunk("""{"reasoning_content":"Three cities, "}"""),
            Chunk("""{"reasoning_content":"three calls."}"""),
            Chunk("""{"content":"Checking "}"""),
            Chunk("""{"content":"all three."}"""),
            Chunk("""{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"get_weather","arguments":""}}]}"""),
            Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}"""),
            Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}"""),
            Chunk("""{"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"get_weather","arguments":""}}]}"""),
            Chunk("""{"tool_calls":[{"index":1,"function":{"arguments":"{\"city\":\"東京\"}"}}]}"""),
            Chunk("""{"tool_calls":[{"index":2,"id":"toolu_c","type":"function","function":{"name":"get_time","arguments":""}}]}"""),
            Chunk("""{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}"""),
            Chunk("{}", "tool_calls"),
            UsageChunk("""{"prompt_tokens":130,"completion_tokens":42,"total_tokens":172,"prompt_tokens_details":{"cached_tokens":100}}"""),
            "[DONE]",
        }));
    }

    [Test]
    public async Task Case19_UsageWithCache_IsReportedInAnthropicTerms_AndAsOpenAIPromptTokens()
    {
        var converter = Converter();
        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, ParallelToolsStream(), trickle: false));

        Assert.That(converter.Usage.InputTokens, Is.EqualTo(10));
        Assert.That(converter.Usage.CacheReadInputTokens, Is.EqualTo(100));
        Assert.That(converter.Usage.CacheCreationInputTokens, Is.EqualTo(20));
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(42));
        Assert.That(JsonNode.Parse(frames[^2])!["usage"]!["prompt_tokens"]!.GetValue<long>(), Is.EqualTo(130));
    }

    [Test]
    public async Task Case03_UsageChunk_HasEmptyChoices_ComesAfterTheFinishChunk_AndOnlyWhenAsked()
    {
        var with = await RunAsync(TextStream(), trickle: false, includeUsage: true);
        var without = await RunAsync(TextStream(), trickle: false, includeUsage: false);

        Assert.That(JsonNode.Parse(with[^3])!["choices"]![0]!["finish_reason"]!.GetValue<string>(), Is.EqualTo("stop"));
        Assert.That(JsonNode.Parse(with[^2])!["choices"]!.AsArray(), Is.Empty);
        Assert.That(without, Has.Count.EqualTo(with.Count - 1));
        Assert.That(without.Any(f => f.Contains("\"usage\"", StringComparison.Ordinal)), Is.False);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task MidStreamError_BecomesAnErrorObject_AndTheStreamStops(bool trickle)
    {
        var upstream = StreamHarness.Anthropic(
            MessageStart(), TextStart(0), TextDelta(0, "partial"),
            """{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""",
            TextDelta(0, "never seen"));

        var frames = await RunAsync(upstream, trickle);

        Assert.That(frames, Is.EqualTo(new[]
        {
            Chunk("""{"role":"assistant","content":""}"""),
            Chunk("""{"content":"partial"}"""),
            """{"error":{"message":"Overloaded","type":"server_error","param":null,"code":"overloaded_error"}}""",
        }));
    }

    [Test]
    public async Task Case21_EofAfterMessageDeltaWithoutMessageStop_FinishesNormally()
    {
        var upstream = StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "done"), BlockStop(0), MessageDelta("max_tokens", 9));

        var frames = await RunAsync(upstream, trickle: true);

        Assert.That(frames[^3], Is.EqualTo(Chunk("{}", "length")));
        Assert.That(frames[^1], Is.EqualTo("[DONE]"));
    }

    [Test]
    public async Task Case21_EofBeforeTheAnswerFinished_IsAnErrorNeverAFakeSuccess()
    {
        var converter = Converter();
        var upstream = StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "cut"));

        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, upstream, trickle: false));

        Assert.That(frames[^1], Is.EqualTo("""{"error":{"message":"upstream stream ended before it finished","type":"server_error","param":null,"code":null}}"""));
        Assert.That(frames, Does.Not.Contain("[DONE]"));
        Assert.That(frames.Any(f => f.Contains("finish_reason\":\"", StringComparison.Ordinal)), Is.False);
        Assert.That(converter.Finished, Is.True);
    }

    [Test]
    public async Task Case21_FinalFrameWithoutTrailingBlankLine_IsStillConverted()
    {
        var upstream = TextStream();
        var cut = upstream.AsSpan(0, upstream.Length - 2).ToArray();

        var frames = await RunAsync(cut, trickle: true);

        Assert.That(frames[^1], Is.EqualTo("[DONE]"));
        Assert.That(frames.Count(f => f == "[DONE]"), Is.EqualTo(1));
    }

    [Test]
    public async Task Case22And23_MessageStop_WritesDoneOnce_FinishesTheConverter_AndIgnoresWhatFollows()
    {
        var converter = Converter();
        var upstream = StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "x"), MessageDelta("end_turn", 1), MessageStop)
            .Concat(Encoding.UTF8.GetBytes("data: [DONE]\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n")).ToArray();

        var output = await StreamHarness.RunAsync(converter, new WholeStream(upstream));
        var frames = await StreamHarness.DataAsync(output);

        Assert.That(converter.Finished, Is.True);
        Assert.That(frames.Count(f => f == "[DONE]"), Is.EqualTo(1));
        Assert.That(frames[^1], Is.EqualTo("[DONE]"));
    }

    [Test]
    public async Task MessageStopWithoutMessageDelta_StillWritesAFinishChunk()
    {
        var frames = await RunAsync(StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "x"), MessageStop), trickle: false, includeUsage: false);

        Assert.That(frames, Is.EqualTo(new[]
        {
            Chunk("""{"role":"assistant","content":""}"""),
            Chunk("""{"content":"x"}"""),
            Chunk("{}", "stop"),
            "[DONE]",
        }));
    }

    [Test]
    public async Task Case20_CjkAndEmoji_SplitAtEveryByteOffset_ComeOutIntact()
    {
        var upstream = UnicodeStream();
        Assert.That(upstream.AsSpan().IndexOf(Encoding.UTF8.GetBytes("日本語")), Is.GreaterThan(0), "the upstream carries raw multi-byte UTF-8");
        Assert.That(upstream.AsSpan().IndexOf(Encoding.UTF8.GetBytes("😀")), Is.GreaterThan(0), "and raw 4-byte sequences");
        var expected = await StreamHarness.RunAsync(Converter(), new WholeStream(upstream));
        Assert.That(Encoding.UTF8.GetString(expected), Does.Contain(UnicodeText[..7]).And.Not.Contain("\uFFFD"));

        for (var k = 0; k <= upstream.Length; k++)
        {
            var output = await StreamHarness.RunAsync(Converter(), ChunkedStream.SplitAt(upstream, k));
            Assert.That(output, Is.EqualTo(expected), $"split at byte {k}");
        }

        var content = StreamHarness.Reassemble(await StreamHarness.DataAsync(expected))["message"]!["content"]!.GetValue<string>();
        Assert.That(content, Is.EqualTo(UnicodeText));
    }

    [Test]
    public async Task SignatureDeltasAndPings_AreDropped()
    {
        var frames = await RunAsync(ParallelToolsStream(), trickle: false);

        Assert.That(frames.Any(f => f.Contains("EqQB", StringComparison.Ordinal) || f.Contains("ping", StringComparison.Ordinal)), Is.False);
    }

    [Test]
    public void Ping_IsAComment_AndNothingAfterFinish()
    {
        var converter = Converter();
        var output = new ArrayBufferWriter<byte>();

        converter.Ping(output);
        Assert.That(Encoding.UTF8.GetString(output.WrittenSpan), Is.EqualTo(": keep-alive\n\n"));

        converter.Fail("timeout_error", "upstream went silent", output);
        var afterFail = output.WrittenCount;
        converter.Ping(output);
        converter.End(output);
        converter.Fail("api_error", "again", output);

        Assert.That(output.WrittenCount, Is.EqualTo(afterFail));
        Assert.That(Encoding.UTF8.GetString(output.WrittenSpan), Does.EndWith(
            """data: {"error":{"message":"upstream went silent","type":"server_error","param":null,"code":"timeout_error"}}""" + "\n\n"));
    }

    [TestCase("overloaded_error", "server_error")]
    [TestCase("api_error", "server_error")]
    [TestCase("rate_limit_error", "rate_limit_error")]
    [TestCase("invalid_request_error", "invalid_request_error")]
    [TestCase("authentication_error", "authentication_error")]
    [TestCase("billing_error", "insufficient_quota")]
    public void Fail_WritesTheMappedOpenAIType(string anthropicType, string openAIType)
    {
        var converter = Converter();
        var output = new ArrayBufferWriter<byte>();

        converter.Fail(anthropicType, "m", output);

        var text = Encoding.UTF8.GetString(output.WrittenSpan);
        Assert.That(JsonNode.Parse(text["data: ".Length..])!["error"]!["type"]!.GetValue<string>(), Is.EqualTo(openAIType));
        Assert.That(converter.Finished, Is.True);
    }

    [Test]
    public async Task UpstreamWithoutMessageStart_StillGetsARoleChunk_AndTheFallbackId()
    {
        var frames = await RunAsync(StreamHarness.Anthropic(TextStart(0), TextDelta(0, "x"), MessageDelta("end_turn", 1), MessageStop), trickle: false, includeUsage: false);

        Assert.That(frames[0], Is.EqualTo(Chunk("""{"role":"assistant","content":""}""", id: "chatcmpl-fixed")));
    }

    [Test]
    public async Task ToolStartCarryingItsWholeInput_IsNotLost()
    {
        var upstream = StreamHarness.Anthropic(
            MessageStart(),
            """{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_x","name":"f","input":{"a":1}}}""",
            BlockStop(0), MessageDelta("tool_use", 3), MessageStop);

        var answer = StreamHarness.Reassemble(await RunAsync(upstream, trickle: false));

        Assert.That(answer["message"]!["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>(), Is.EqualTo("""{"a":1}"""));
    }

    [Test]
    public async Task IdAndCreated_AreTheSameOnEveryChunk()
    {
        var frames = await RunAsync(ParallelToolsStream(), trickle: false);
        var chunks = frames.Where(f => f != "[DONE]").Select(f => JsonNode.Parse(f)!).ToList();

        Assert.That(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct(), Is.EqualTo(new[] { "chatcmpl-msg_1" }));
        Assert.That(chunks.Select(c => c["created"]!.GetValue<long>()).Distinct(), Is.EqualTo(new[] { StreamHarness.Created }));
    }

    private static IEnumerable<TestCaseData> Equivalents()
    {
        yield return new TestCaseData(ParallelToolsStream(), ParallelToolsMessage).SetName("Reassembled_ParallelTools_EqualsTheNonStreamedAnswer");
        yield return new TestCaseData(UnicodeStream(), UnicodeMessage).SetName("Reassembled_Unicode_EqualsTheNonStreamedAnswer");
        yield return new TestCaseData(
            TextStream("refusal"),
            """{"id":"msg_1","content":[{"type":"text","text":"Hello"}],"stop_reason":"refusal","usage":{"input_tokens":3,"output_tokens":5}}""")
            .SetName("Reassembled_Refusal_EqualsTheNonStreamedAnswer");
    }

    [TestCaseSource(nameof(Equivalents))]
    public async Task ReassembledStream_EqualsConvertResponse(byte[] stream, string message)
    {
        var streamed = StreamHarness.Reassemble(await RunAsync(stream, trickle: true));
        var whole = JsonNode.Parse(ChatClient.ConvertResponse(Encoding.UTF8.GetBytes(message), "gpt-4o", StreamHarness.Created))!;

        Assert.That(streamed["id"]!.GetValue<string>(), Is.EqualTo(whole["id"]!.GetValue<string>()));
        Assert.That(streamed["message"]!.ToJsonString(), Is.EqualTo(whole["choices"]![0]!["message"]!.ToJsonString()));
        Assert.That(streamed["finish_reason"]!.GetValue<string>(), Is.EqualTo(whole["choices"]![0]!["finish_reason"]!.GetValue<string>()));
        Assert.That(streamed["usage"]!.ToJsonString(), Is.EqualTo(whole["usage"]!.ToJsonString()));
    }

    private static readonly byte[][] PropertyStreams =
    [
        ParallelToolsStream(),
        UnicodeStream(),
        TextStream(),
        StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "中文 🎉"), """{"type":"error","error":{"type":"api_error","message":"boom"}}"""),
        Encoding.UTF8.GetBytes("event: message_start\r\ndata: " + MessageStart() + "\r\n\r\n: comment\r\nevent: content_block_start\rdata: " + TextStart(0) + "\r\rdata: " + TextDelta(0, "é€😀") + "\n\n"),
    ];

    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property AnySplitOfTheUpstreamBytes_GivesByteIdenticalOutput() =>
        Prop.ForAll(
            Gen.Choose(0, PropertyStreams.Length - 1).ToArbitrary(),
            Gen.Choose(1, 48).ArrayOf().ToArbitrary(),
            (which, sizes) =>
            {
                var upstream = PropertyStreams[which];
                var expected = StreamHarness.RunAsync(Converter(), new WholeStream(upstream)).GetAwaiter().GetResult();
                var split = StreamHarness.RunAsync(Converter(), new ChunkedStream(upstream, sizes)).GetAwaiter().GetResult();
                var trickle = StreamHarness.RunAsync(Converter(), new ChunkedStream(upstream, Enumerable.Repeat(1, upstream.Length).ToArray())).GetAwaiter().GetResult();
                return split.AsSpan().SequenceEqual(expected) && trickle.AsSpan().SequenceEqual(expected);
            });

    [Test]
    public void ConvertDirectly_CommentsAndEmptyDataAreIgnored()
    {
        var converter = Converter();
        var output = new ArrayBufferWriter<byte>();

        converter.Convert(new SseEvent(null, "keep-alive", null, IsComment: true), output);
        converter.Convert(new SseEvent("message", string.Empty, null, IsComment: false), output);

        Assert.That(output.WrittenCount, Is.Zero);
    }

    [Test]
    public void MalformedUpstreamJson_IsAnErrorObject()
    {
        var converter = Converter();
        var output = new ArrayBufferWriter<byte>();

        converter.Convert(new SseEvent("content_block_delta", "{not json", null, IsComment: false), output);

        Assert.That(Encoding.UTF8.GetString(output.WrittenSpan), Does.Contain("\"error\"").And.Contain("not valid JSON"));
        Assert.That(converter.Finished, Is.True);
    }
}
