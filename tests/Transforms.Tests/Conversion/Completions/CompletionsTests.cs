using System.Buffers;
using System.Text.Json.Nodes;
using System.Text;
using CcxProxy.Transforms.Conversion.Completions;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide.AnthropicFixtures;

namespace CcxProxy.Transforms.Tests.Conversion.Completions;

[TestFixture]
public sealed class CompletionsTests
{
    private static readonly ConversionOptions ToChat = new() { UpstreamModel = "deepseek-chat" };
    private static readonly ConversionOptions ToClaude = new() { UpstreamModel = "claude-haiku-4-5" };

    private static GatewayResult<ConvertedRequest> Request(bool anthropic, string body) => anthropic
        ? CompletionsToMessages.ConvertRequest(Encoding.UTF8.GetBytes(body), ToClaude)
        : CompletionsToChat.ConvertRequest(Encoding.UTF8.GetBytes(body), ToChat);

    private static JsonObject Body(GatewayResult<ConvertedRequest> result) => JsonNode.Parse(result.Value().Body)!.AsObject();

    private static string TextChunk(string text, string? finish, string id = "cmpl-abc") =>
        "{\"id\":\"" + id + "\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"gpt-3.5-turbo-instruct\",\"choices\":[{\"text\":" +
        AnthropicFixtures.Q(text) + ",\"index\":0,\"logprobs\":null,\"finish_reason\":" + (finish is null ? "null" : "\"" + finish + "\"") + "}]}";

    // ---- requests ---------------------------------------------------------------------------------

    [Test]
    public void ToChat_Prompt_BecomesOneUserMessage_WithFieldsCopied()
    {
        var body = Body(Request(false, """{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","max_tokens":20,"temperature":0.5,"top_p":0.9,"stop":["\n"],"user":"u","n":1,"echo":false,"logprobs":null,"suffix":""}"""));

        Assert.That(body.ToJsonString(), Is.EqualTo(
            """{"model":"deepseek-chat","messages":[{"role":"user","content":"Say hi"}],"max_tokens":20,"temperature":0.5,"top_p":0.9,"stop":["\n"],"user":"u"}"""));
    }

    [Test]
    public void ToChat_ArrayOfOneString_AndNoMaxTokens_SendsNoMaxTokens()
    {
        var body = Body(Request(false, """{"model":"m","prompt":["Say hi"]}"""));

        Assert.That(body["messages"]![0]!["content"]!.GetValue<string>(), Is.EqualTo("Say hi"));
        Assert.That(body.ContainsKey("max_tokens"), Is.False);
    }

    [Test]
    public void ToChat_MaxTokens_UsesTheChannelFieldAndLimit()
    {
        var result = CompletionsToChat.ConvertRequest(
            Encoding.UTF8.GetBytes("""{"model":"m","prompt":"x","max_tokens":100000}"""),
            ToChat with { MaxTokensLimit = 8192, MaxTokensField = "max_completion_tokens" });

        var body = Body(result);
        Assert.That(body["max_completion_tokens"]!.GetValue<long>(), Is.EqualTo(8192));
        Assert.That(body.ContainsKey("max_tokens"), Is.False);
    }

    [Test]
    public void ToChat_Stream_AsksTheUpstreamForUsage()
    {
        var result = Request(false, """{"model":"m","prompt":"x","stream":true}""");

        Assert.That(result.Value().Stream, Is.True);
        Assert.That(Body(result)["stream_options"]!.ToJsonString(), Is.EqualTo("""{"include_usage":true}"""));
    }

    [Test]
    public void ToMessages_Prompt_BecomesOneUserMessage_WithMaxTokensDefault4096()
    {
        var result = Request(true, """{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","stop":"END","temperature":1.5,"stream":true,"stream_options":{"include_usage":true}}""");
        var body = Body(result);

        Assert.That(result.Value().Stream, Is.True);
        Assert.That(body.ToJsonString(), Is.EqualTo(
            """{"model":"claude-haiku-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Say hi"}]}],"stop_sequences":["END"],"temperature":1,"stream":true}"""));
    }

    [Test]
    public void ToMessages_MaxTokens_IsClampedToTheChannelLimit()
    {
        var result = CompletionsToMessages.ConvertRequest(Encoding.UTF8.GetBytes("""{"model":"m","prompt":"x","max_tokens":50000}"""), ToClaude with { MaxTokensLimit = 32000 });

        Assert.That(Body(result)["max_tokens"]!.GetValue<long>(), Is.EqualTo(32000));
    }

    [TestCase("""{"model":"m","prompt":[1,2,3]}""", "prompt as token ids is not supported: send text")]
    [TestCase("""{"model":"m","prompt":[[1,2]]}""", "prompt as token ids is not supported: send text")]
    [TestCase("""{"model":"m","prompt":["a","b"]}""", "array of several prompts")]
    [TestCase("""{"model":"m","prompt":""}""", "prompt: must not be empty")]
    [TestCase("""{"model":"m"}""", "prompt: field required")]
    [TestCase("""{"model":"m","prompt":"x","n":2}""", "n > 1 is not supported")]
    [TestCase("""{"model":"m","prompt":"x","best_of":3}""", "best_of > 1 is not supported")]
    [TestCase("""{"model":"m","prompt":"x","echo":true}""", "echo is not supported")]
    [TestCase("""{"model":"m","prompt":"x","suffix":"}"}""", "suffix is not supported")]
    [TestCase("""{"model":"m","prompt":"x","logprobs":0}""", "logprobs is not supported")]
    [TestCase("""{"model":"m","prompt":"x","logprobs":5}""", "logprobs is not supported")]
    [TestCase("""{"model":"m","prompt":""", "malformed JSON")]
    public void Case35_UnsupportedLegacyFeatures_AreRefusedOnBothPaths(string body, string expected)
    {
        foreach (var anthropic in new[] { false, true })
        {
            var result = Request(anthropic, body);
            Assert.That(result.Refusal(), Does.Contain(expected), anthropic ? "to Anthropic" : "to chat");
        }
    }

    // ---- whole answers ------------------------------------------------------------------------------

    [TestCase("stop", "stop")]
    [TestCase("length", "length")]
    [TestCase("tool_calls", "stop")]
    [TestCase("content_filter", "content_filter")]
    public void ChatResponse_BecomesTextCompletion(string chatFinish, string finish)
    {
        var chat = """{"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hi!","reasoning_content":"hmm"},"finish_reason":"FINISH"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"""
            .Replace("FINISH", chatFinish, StringComparison.Ordinal);

        var body = JsonNode.Parse(CompletionsToChat.ConvertResponse(Encoding.UTF8.GetBytes(chat), "gpt-3.5-turbo-instruct", StreamHarness.Created))!;

        const string Expected = """{"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"Hi!","index":0,"logprobs":null,"finish_reason":"FINISH"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}""";
        Assert.That(body.ToJsonString(), Is.EqualTo(Expected.Replace("FINISH", finish, StringComparison.Ordinal)));
    }

    [Test]
    public void AnthropicResponse_BecomesTextCompletion_WithUsageIncludingCache()
    {
        var message = """{"id":"msg_7","type":"message","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Hello "},{"type":"text","text":"there"}],"stop_reason":"max_tokens","usage":{"input_tokens":4,"output_tokens":6,"cache_read_input_tokens":10}}""";

        var body = JsonNode.Parse(CompletionsToMessages.ConvertResponse(Encoding.UTF8.GetBytes(message), "gpt-3.5-turbo-instruct", StreamHarness.Created))!;

        Assert.That(body.ToJsonString(), Is.EqualTo(
            """{"id":"cmpl-msg_7","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct","choices":[{"text":"Hello there","index":0,"logprobs":null,"finish_reason":"length"}],"usage":{"prompt_tokens":14,"completion_tokens":6,"total_tokens":20,"prompt_tokens_details":{"cached_tokens":10}}}"""));
    }

    // ---- chat chunks → text_completion chunks -------------------------------------------------------

    private static IStreamConverter ChatConverter(bool includeUsage) =>
        CompletionsToChat.CreateStreamConverter("gpt-3.5-turbo-instruct", includeUsage, StreamHarness.Created, "fixed");

    private static string ChatChunk(string delta, string finish = "null", string id = "chatcmpl-abc") =>
        "{\"id\":\"" + id + "\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":" + delta + ",\"finish_reason\":" + finish + "}]}";

    private const string ChatUsage = """{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}""";

    [TestCase(false)]
    [TestCase(true)]
    public async Task Case35_ChatStream_BecomesTextChunks_WithAConstantId(bool trickle)
    {
        var upstream = StreamHarness.DataOnly(
            ChatChunk("""{"role":"assistant","content":""}""", "\"\""),
            ChatChunk("""{"reasoning_content":"thinking..."}""", "\"\""),
            ChatChunk("""{"content":"Hel"}""", "\"\"", id: "chatcmpl-other"),
            ChatChunk("""{"content":"lo 世界"}"""),
            ChatChunk("{}", "\"stop\""),
            ChatUsage,
            "[DONE]");
        var converter = ChatConverter(includeUsage: true);

        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, upstream, trickle));

        Assert.That(frames, Is.EqualTo(new[]
        {
            TextChunk("Hel", null),
            TextChunk("lo 世界", null),
            TextChunk(string.Empty, "stop"),
            """{"id":"cmpl-abc","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}""",
            "[DONE]",
        }));
        Assert.That(converter.Usage.InputTokens, Is.EqualTo(3));
        Assert.That(converter.Usage.CacheReadInputTokens, Is.EqualTo(4));
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(3));
    }

    [Test]
    public async Task Case33_ContentAndFinishInOneChunk_KeepsTheContent()
    {
        var upstream = StreamHarness.DataOnly(ChatChunk("""{"content":"all at once"}""", "\"length\""), "[DONE]");

        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(ChatConverter(false), upstream, trickle: false));

        Assert.That(frames, Is.EqualTo(new[] { TextChunk("all at once", "length"), "[DONE]" }));
    }

    [Test]
    public async Task Case03_UsageOnlyChunkAfterFinish_IsReadNotIndexed_AndHiddenWhenNotAsked()
    {
        var upstream = StreamHarness.DataOnly(ChatChunk("""{"content":"x"}"""), ChatChunk("{}", "\"stop\""), ChatUsage, "[DONE]");
        var converter = ChatConverter(includeUsage: false);

        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, upstream, trickle: false));

        Assert.That(frames, Is.EqualTo(new[] { TextChunk("x", null), TextChunk(string.Empty, "stop"), "[DONE]" }));
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(3));
    }

    [Test]
    public async Task Case21_ChatStreamEofAfterFinishWithoutDone_Finishes_ButEofBeforeFinishIsAnError()
    {
        var finished = await StreamHarness.DataAsync(await StreamHarness.RunAsync(
            ChatConverter(false), StreamHarness.DataOnly(ChatChunk("""{"content":"x"}""", "\"stop\"")), trickle: true));
        Assert.That(finished[^1], Is.EqualTo("[DONE]"));

        var cut = await StreamHarness.DataAsync(await StreamHarness.RunAsync(
            ChatConverter(false), StreamHarness.DataOnly(ChatChunk("""{"content":"x"}""")), trickle: true));
        Assert.That(cut[^1], Does.StartWith("{\"error\":").And.Contain("ended before it finished"));
        Assert.That(cut, Does.Not.Contain("[DONE]"));
    }

    [Test]
    public async Task Case21_DoneWithoutAnyFinishReason_StillEndsWithAFinishChunk()
    {
        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(
            ChatConverter(false), StreamHarness.DataOnly(ChatChunk("""{"content":"x"}"""), "[DONE]"), trickle: false));

        Assert.That(frames, Is.EqualTo(new[] { TextChunk("x", null), TextChunk(string.Empty, "stop"), "[DONE]" }));
    }

    [Test]
    public async Task ChatStreamMidStreamError_IsPassedOnAsAnErrorObject()
    {
        var upstream = StreamHarness.DataOnly(ChatChunk("""{"content":"x"}"""), """{"error":{"message":"The server had an error","type":"server_error"}}""", ChatChunk("""{"content":"y"}"""));

        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(ChatConverter(true), upstream, trickle: false));

        Assert.That(frames, Is.EqualTo(new[]
        {
            TextChunk("x", null),
            """{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}""",
        }));
    }

    [Test]
    public void ChatConverter_PingAndFail()
    {
        var converter = ChatConverter(false);
        var output = new ArrayBufferWriter<byte>();

        converter.Ping(output);
        converter.Fail("overloaded_error", "gone", output);

        Assert.That(Encoding.UTF8.GetString(output.WrittenSpan), Is.EqualTo(
            ": keep-alive\n\ndata: {\"error\":{\"message\":\"gone\",\"type\":\"server_error\",\"param\":null,\"code\":\"overloaded_error\"}}\n\n"));
        Assert.That(converter.Finished, Is.True);
    }

    // ---- Anthropic SSE → text_completion chunks ------------------------------------------------------

    private static IStreamConverter MessagesConverter(bool includeUsage) =>
        CompletionsToMessages.CreateStreamConverter("gpt-3.5-turbo-instruct", includeUsage, StreamHarness.Created, "fixed");

    [TestCase(false)]
    [TestCase(true)]
    public async Task AnthropicStream_BecomesTextChunks_DroppingThinkingAndTools(bool trickle)
    {
        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(MessagesConverter(true), ParallelToolsStream(), trickle));

        Assert.That(frames, Is.EqualTo(new[]
        {
            TextChunk("Checking ", null, "cmpl-msg_1"),
            TextChunk("all three.", null, "cmpl-msg_1"),
            TextChunk(string.Empty, "stop", "cmpl-msg_1"),
            """{"id":"cmpl-msg_1","object":"text_completion","created":1700000000,"model":"gpt-3.5-turbo-instruct","choices":[],"usage":{"prompt_tokens":130,"completion_tokens":42,"total_tokens":172,"prompt_tokens_details":{"cached_tokens":100}}}""",
            "[DONE]",
        }));
    }

    [Test]
    public async Task AnthropicStream_ReassembledText_EqualsConvertResponse()
    {
        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(MessagesConverter(false), UnicodeStream(), trickle: true));
        var text = string.Concat(frames.Where(f => f != "[DONE]").Select(f => JsonNode.Parse(f)!["choices"]![0]!["text"]!.GetValue<string>()));

        var whole = JsonNode.Parse(CompletionsToMessages.ConvertResponse(Encoding.UTF8.GetBytes(UnicodeMessage), "m", StreamHarness.Created))!;

        Assert.That(text, Is.EqualTo(whole["choices"]![0]!["text"]!.GetValue<string>()));
        Assert.That(JsonNode.Parse(frames[^2])!["choices"]![0]!["finish_reason"]!.GetValue<string>(), Is.EqualTo("stop"));
    }

    [Test]
    public async Task AnthropicStream_EofBeforeFinish_IsAnErrorObject()
    {
        var frames = await StreamHarness.DataAsync(await StreamHarness.RunAsync(
            MessagesConverter(true), StreamHarness.Anthropic(MessageStart(), TextStart(0), TextDelta(0, "cut")), trickle: false));

        Assert.That(frames[^1], Does.Contain("\"error\""));
        Assert.That(frames, Does.Not.Contain("[DONE]"));
    }

    [Test]
    public async Task AnySplitOfChatChunks_GivesIdenticalOutput()
    {
        var upstream = StreamHarness.DataOnly(ChatChunk("""{"content":"日本😀"}"""), ChatChunk("""{"content":"é"}"""), ChatChunk("{}", "\"stop\""), ChatUsage, "[DONE]");
        var expected = await StreamHarness.RunAsync(ChatConverter(true), new WholeStream(upstream));

        for (var k = 0; k <= upstream.Length; k++)
        {
            Assert.That(await StreamHarness.RunAsync(ChatConverter(true), ChunkedStream.SplitAt(upstream, k)), Is.EqualTo(expected), $"split at {k}");
        }
    }
}
