using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide.Chunks;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide.StreamHarness;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

/// <summary>
/// docs/protocols.md §2.4, §8 and §9 for OpenAI SSE → Anthropic SSE (an Anthropic client on an OpenAI channel); every
/// case whole and one byte per read. The opposite direction: ClientSide/MessagesStreamToChatStreamTests.cs.
/// </summary>
[TestFixture]
public sealed class ChatToMessagesStreamTests
{
    private static string Json(JsonNode? node) => node?.ToJsonString() ?? "null";

    [Test]
    public async Task PlainText_FullSequence_ExactEvents([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Role(), Text("Hello"), Text(", world"), Finish("stop"), Usage(12, 3), Done), delivery, estimate: 40);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start", "start:text", "delta:text_delta", "delta:text_delta", "content_block_stop", "message_delta", "message_stop",
        }));
        var start = events[0].Data["message"]!;
        Assert.That(Json(start), Is.EqualTo("""{"id":"msg_test0123456789","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":40,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"""));
        Assert.That(Json(events[1].Data), Is.EqualTo("""{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""));
        Assert.That(Json(events[5].Data), Is.EqualTo("""{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"""));
        var message = Reassemble(events);
        Assert.That(Json(message.Content), Is.EqualTo("""[{"type":"text","text":"Hello, world"}]"""));
        Assert.That(message.Stopped, Is.True);
    }

    [Test]
    public async Task Begin_BeforeAnyUpstreamByte_WritesMessageStart()
    {
        // §8 #24: bytes go to the client as soon as the upstream answers, before the first token.
        var converter = ChatUpstream.CreateStreamConverter(Model, ToolNameMap.Identity, 123);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        converter.Ping(output);

        var events = await ParseAsync(output.WrittenSpan.ToArray());
        Assert.That(Sequence(events), Is.EqualTo(new[] { "message_start", "ping" }));
        Assert.That((string)events[0].Data["message"]!["id"]!, Does.StartWith("msg_"));
        Assert.That((long)events[0].Data["message"]!["usage"]!["input_tokens"]!, Is.EqualTo(123));
        Assert.That(Json(events[1].Data), Is.EqualTo("""{"type":"ping"}"""));
        Assert.That(Encoding.UTF8.GetString(output.WrittenSpan), Does.Contain("event: ping\ndata: {\"type\":\"ping\"}\n\n"));
        Assert.That(converter.Finished, Is.False);
    }

    [Test]
    public async Task EveryFrame_HasEventLine_AndNoDone([Values] Delivery delivery)
    {
        // §8 #32, #23.
        var bytes = await ConvertAsync(Upstream(Reasoning("r"), Text("t"), ToolStart(0, "call_1", "Bash", "{}"), Finish("tool_calls"), Usage(1, 1), Done), delivery);
        var text = Encoding.UTF8.GetString(bytes);
        var frames = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.That(frames, Has.All.StartWith("event: "));
        Assert.That(text, Does.Not.Contain("[DONE]"));
        Reassemble(await ParseAsync(bytes));
    }

    [Test]
    public async Task TextAndOneTool_ToolUseStopReason([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(
            Text("Let me look."),
            ToolStart(0, "call_abc", "Read", ""),
            ToolArgs(0, "{\"file_path\":"),
            ToolArgs(0, "\"/tmp/a.txt\"}"),
            Finish("tool_calls"), Usage(100, 20), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start", "start:text", "delta:text_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop",
        }));
        Assert.That(Json(events[4].Data), Is.EqualTo("""{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_abc","name":"Read","input":{}}}"""));

        // Fragments are relayed unchanged.
        Assert.That((string)events[5].Data["delta"]!["partial_json"]!, Is.EqualTo("{\"file_path\":"));
        var message = Reassemble(events);
        Assert.That(Json(message.Content[1]!["input"]), Is.EqualTo("""{"file_path":"/tmp/a.txt"}"""));
        Assert.That((string)message.Message!["stop_reason"]!, Is.EqualTo("tool_use"));
    }

    [Test]
    public async Task Case01_ToolArgumentsInTheStartChunk_SentRightAfterTheStart([Values] Delivery delivery)
    {
        // §8 #1: Mistral/vLLM send id, name and the first {" together.
        var events = await RunAsync(Upstream(ToolStart(0, "call_1", "Bash", "{\"comm"), ToolArgs(0, "and\":\"ls\"}"), Finish("tool_calls"), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start", "start:tool_use", "delta:input_json_delta", "delta:input_json_delta", "content_block_stop", "message_delta", "message_stop",
        }));
        Assert.That((string)events[2].Data["delta"]!["partial_json"]!, Is.EqualTo("{\"comm"));
        Assert.That(Json(Reassemble(events).Content[0]!["input"]), Is.EqualTo("""{"command":"ls"}"""));
    }

    [Test]
    public async Task Case02_ToolStart_HasEmptyInput_ArgumentsOnlyInDeltas([Values] Delivery delivery)
    {
        // §8 #2: the full input in content_block_start with no delta leaves SDK accumulators with {}.
        var events = await RunAsync(Upstream(ToolStart(0, "call_1", "Bash", "{\"command\":\"ls\"}"), Finish("tool_calls"), Done), delivery);

        var start = events.Single(e => e.Type == "content_block_start");
        Assert.That(Json(start.Data["content_block"]!["input"]), Is.EqualTo("{}"));
        Assert.That(Json(Reassemble(events).Content[0]!["input"]), Is.EqualTo("""{"command":"ls"}"""));
    }

    [Test]
    public async Task ToolWithoutArguments_GetsEmptyObjectDelta([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(ToolStart(0, "call_1", "TaskList"), Finish("tool_calls"), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start", "start:tool_use", "delta:input_json_delta", "content_block_stop", "message_delta", "message_stop",
        }));
        Assert.That((string)events[2].Data["delta"]!["partial_json"]!, Is.EqualTo("{}"));
    }

    [Test]
    public async Task Case03_UsageOnlyChunkAfterFinish_ReadAndNotIndexed([Values] Delivery delivery)
    {
        // §8 #3: choices: [] must not crash, and its usage must reach message_delta.
        var events = await RunAsync(Upstream(Text("hi"), Finish("stop"), Usage(50, 7), Done), delivery);

        var delta = events.Single(e => e.Type == "message_delta");
        Assert.That((long)delta.Data["usage"]!["output_tokens"]!, Is.EqualTo(7));
        Assert.That((long)delta.Data["usage"]!["input_tokens"]!, Is.EqualTo(50));
    }

    [Test]
    public async Task UsageChunkWithNullChoices_ReadAndCompletes([Values] Delivery delivery)
    {
        var usage = """{"id":"x","object":"chat.completion.chunk","choices":null,"usage":{"prompt_tokens":9,"completion_tokens":2}}""";
        var events = await RunAsync(Upstream(Text("hi"), Finish("stop"), usage), delivery);

        var message = Reassemble(events);
        Assert.That(message.Stopped, Is.True);
        Assert.That((long)message.Message!["usage"]!["output_tokens"]!, Is.EqualTo(2));
    }

    [Test]
    public async Task FinishThenUsage_MessageDeltaHeldUntilUsage([Values] Delivery delivery)
    {
        // §2.4 step 5: the finish chunk closes blocks; message_delta waits for the usage chunk.
        var bytes = await ConvertAsync(Upstream(Text("a"), Finish("stop")), delivery);
        var converter = new ChatToMessagesStream(Model, ToolNameMap.Identity, 0, MessageId);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        converter.Convert(new SseEvent(null, Text("a"), null, false), output);
        converter.Convert(new SseEvent(null, Finish("stop"), null, false), output);
        var afterFinish = Sequence(await ParseAsync(output.WrittenSpan.ToArray()));
        Assert.That(afterFinish, Is.EqualTo(new[] { "message_start", "start:text", "delta:text_delta", "content_block_stop" }));
        Assert.That(converter.Finished, Is.False);

        converter.Convert(new SseEvent(null, Usage(4, 1), null, false), output);
        Assert.That(converter.Finished, Is.True);
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(1));
        Assert.That(Sequence(await ParseAsync(output.WrittenSpan.ToArray())).TakeLast(2), Is.EqualTo(new[] { "message_delta", "message_stop" }));

        // And without a usage chunk, EOF after the finish chunk still completes properly.
        Assert.That(Reassemble(await ParseAsync(bytes)).Stopped, Is.True);
    }

    [Test]
    public async Task ThreeParallelTools_Sequential_EachStreamedLive([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(
            ToolStart(0, "call_a", "Read", ""), ToolArgs(0, "{\"file_path\":\"a\"}"),
            ToolStart(1, "call_b", "Read", ""), ToolArgs(1, "{\"file_path\":\"b\"}"),
            ToolStart(2, "call_c", "Read", ""), ToolArgs(2, "{\"file_path\":\"c\"}"),
            Finish("tool_calls"), Usage(10, 30), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop",
        }));
        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["id"]!), Is.EqualTo(new[] { "call_a", "call_b", "call_c" }));
        Assert.That(message.Content.Select(b => (string)b!["input"]!["file_path"]!), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public async Task Case04_InterleavedParallelTools_NoDeltaToClosedBlock_AllInputsWhole([Values] Delivery delivery)
    {
        // §8 #4 (CLIProxyAPI#4655): fragments of three calls alternate. The first streams live; the others
        // are buffered and sent whole at finish; no delta ever targets a closed block (Reassemble asserts it).
        var events = await RunAsync(Upstream(
            ToolStart(0, "call_a", "Read", "{\"file_"),
            ToolStart(1, "call_b", "Grep", "{\"pat"),
            ToolArgs(0, "path\":\"a\"}"),
            ToolStart(2, "call_c", "Bash", ""),
            ToolArgs(1, "tern\":\"x\"}"),
            ToolArgs(2, "{\"command\":\"ls\"}"),
            Finish("tool_calls"), Usage(10, 30), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start",
            "start:tool_use", "delta:input_json_delta", "delta:input_json_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop",
        }));
        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["name"]!), Is.EqualTo(new[] { "Read", "Grep", "Bash" }));
        Assert.That(Json(message.Content), Is.EqualTo("""[{"type":"tool_use","id":"call_a","name":"Read","input":{"file_path":"a"}},{"type":"tool_use","id":"call_b","name":"Grep","input":{"pattern":"x"}},{"type":"tool_use","id":"call_c","name":"Bash","input":{"command":"ls"}}]"""));
    }

    [Test]
    public async Task Case04_AllStartsFirstThenArguments_NoDeltaToClosedBlock([Values] Delivery delivery)
    {
        // Some servers announce every call, then stream the arguments of each.
        var events = await RunAsync(Upstream(
            ToolStart(0, "call_a", "Read"), ToolStart(1, "call_b", "Read"),
            ToolArgs(0, "{\"file_path\":\"a\"}"), ToolArgs(1, "{\"file_path\":\"b\"}"),
            Finish("tool_calls"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["input"]!["file_path"]!), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task Case05_ToolCallsWithoutIndex_KeyedById([Values] Delivery delivery)
    {
        // §8 #5 (ollama#7881): no index; each call whole in its own chunk.
        var call = (string id, string args) => Chunk($$$"""{"tool_calls":[{"id":"{{{id}}}","type":"function","function":{"name":"Read","arguments":{{{Q(args)}}}}}]}""");
        var events = await RunAsync(Upstream(call("call_1", "{\"file_path\":\"a\"}"), call("call_2", "{\"file_path\":\"b\"}"), call("call_3", "{\"file_path\":\"c\"}"), Finish("tool_calls"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["id"]!), Is.EqualTo(new[] { "call_1", "call_2", "call_3" }));
        Assert.That(message.Content.Select(b => (string)b!["input"]!["file_path"]!), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public async Task Case05_ThreeCallsInOneChunkWithoutIndexOrId_KeyedByPosition([Values] Delivery delivery)
    {
        var first = Chunk("""{"tool_calls":[{"type":"function","function":{"name":"A","arguments":"{\"x\":"}},{"type":"function","function":{"name":"B","arguments":"{\"y\":"}},{"type":"function","function":{"name":"C","arguments":""}}]}""");
        var second = Chunk("""{"tool_calls":[{"function":{"arguments":"1}"}},{"function":{"arguments":"2}"}},{"function":{"arguments":"{}"}}]}""");
        var events = await RunAsync(Upstream(first, second, Finish("tool_calls"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(Json(new JsonArray(message.Content.Select(b => b!["input"]!.DeepClone()).ToArray())), Is.EqualTo("""[{"x":1},{"y":2},{}]"""));

        // No upstream id: ids are derived from the message id, valid and distinct.
        var ids = message.Content.Select(b => (string)b!["id"]!).ToArray();
        Assert.That(ids, Is.Unique);
        Assert.That(ids, Has.All.Match("^[a-zA-Z0-9_-]+$"));
    }

    [Test]
    public async Task Case05_EveryCallIndexZeroWithDistinctIds_DistinctCalls([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(
            ToolStart(0, "call_1", "Read", "{\"file_path\":\"a\"}"),
            ToolStart(0, "call_2", "Read", "{\"file_path\":\"b\"}"),
            Finish("tool_calls"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["input"]!["file_path"]!), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task Case06_ToolAfterThinkingAndTwoTexts_TakesNextFreeIndex([Values] Delivery delivery)
    {
        // §8 #6: the index is the next free Anthropic index, never computed from the OpenAI tool index.
        var events = await RunAsync(Upstream(Reasoning("hmm"), Text("a"), ToolStart(0, "call_1", "X", "{}"), Text("b"), ToolStart(1, "call_2", "Y", "{}"), Finish("tool_calls"), Done), delivery);

        var starts = events.Where(e => e.Type == "content_block_start").Select(e => ((int)e.Data["index"]!, (string)e.Data["content_block"]!["type"]!)).ToArray();
        Assert.That(starts, Is.EqualTo(new[] { (0, "thinking"), (1, "text"), (2, "tool_use"), (3, "text"), (4, "tool_use") }));
        Reassemble(events);
    }

    [Test]
    public async Task Case14_Case15_DeepSeekReasoning_ThinkingBlockWithSignatureFieldAndMarker([Values] Delivery delivery)
    {
        // §9: DeepSeek reasoning_content, then content, then a tool call.
        var events = await RunAsync(Upstream(Role(), Reasoning("Let me "), Reasoning("think."), Text("I'll list."), ToolStart(0, "call_0", "Bash", "{\"command\":\"ls\"}"), Finish("tool_calls"), Usage(100, 50), Done), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[]
        {
            "message_start",
            "start:thinking", "delta:thinking_delta", "delta:thinking_delta", "delta:signature_delta", "content_block_stop",
            "start:text", "delta:text_delta", "content_block_stop",
            "start:tool_use", "delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop",
        }));

        // §8 #14: signature "" in the start; §7: the gateway marker, not a fake Anthropic signature.
        Assert.That(Json(events[1].Data), Is.EqualTo("""{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"""));
        Assert.That((string)events[4].Data["delta"]!["signature"]!, Is.EqualTo(GatewayThinking.Signature));
        var message = Reassemble(events);

        // §8 #15: thinking is a thinking block, never <think> tags in the text.
        Assert.That(Json(message.Content[0]), Is.EqualTo($$"""{"type":"thinking","thinking":"Let me think.","signature":"{{GatewayThinking.Signature}}"}"""));
        Assert.That((string)message.Content[1]!["text"]!, Is.EqualTo("I'll list."));
        Assert.That(GatewayThinking.IsGatewayMade((string)message.Content[0]!["signature"]!), Is.True);
    }

    [Test]
    public async Task OpenRouterReasoningWithSignature_OneThinkingBlock_NotDoubled([Values] Delivery delivery)
    {
        // OpenRouter sends the same text in delta.reasoning and delta.reasoning_details; the signature of an
        // upstream Anthropic model is not passed on: the block gets the gateway marker (see report).
        var chunk = (string text) => Chunk($$"""{"role":"assistant","content":"","reasoning":{{Q(text)}},"reasoning_details":[{"type":"reasoning.text","text":{{Q(text)}},"format":"anthropic-claude-v1","index":0}]}""");
        var signed = Chunk("""{"role":"assistant","content":"","reasoning_details":[{"type":"reasoning.text","signature":"EqQBCkYIBxgCKkD","format":"anthropic-claude-v1","index":0}]}""");
        var events = await RunAsync(Upstream(chunk("Step 1. "), chunk("Step 2."), signed, Text("Done."), Finish("stop"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content, Has.Count.EqualTo(2));
        Assert.That((string)message.Content[0]!["thinking"]!, Is.EqualTo("Step 1. Step 2."));
        Assert.That((string)message.Content[0]!["signature"]!, Is.EqualTo(GatewayThinking.Signature));
        Assert.That((string)message.Content[1]!["text"]!, Is.EqualTo("Done."));
    }

    [Test]
    public async Task Case16_TextAndToolCallsInOneChunk_BothKept_TextAfterToolOpensNewBlock([Values] Delivery delivery)
    {
        var both = Chunk("""{"content":"Checking.","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"A","arguments":"{}"}},{"index":1,"id":"call_2","type":"function","function":{"name":"B","arguments":"{\"q\":1}"}}]}""");
        var events = await RunAsync(Upstream(both, Text("And more."), Finish("tool_calls"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["type"]!), Is.EqualTo(new[] { "text", "tool_use", "tool_use", "text" }));
        Assert.That(Json(message.Content[2]!["input"]), Is.EqualTo("""{"q":1}"""));
        Assert.That((string)message.Content[3]!["text"]!, Is.EqualTo("And more."));
    }

    [TestCase("stop_reason")]
    [TestCase("matched_stop")]
    public async Task Case17_StopSequenceReportedByUpstream_StopSequence(string field)
    {
        // vLLM puts the matched string in choices[].stop_reason, SGLang in matched_stop.
        var events = await RunAsync(Upstream(Text("1, 2, 3"), Chunk("{}", "stop", $$""","{{field}}":"END" """.TrimEnd()), Done));

        var delta = events.Single(e => e.Type == "message_delta").Data["delta"]!;
        Assert.That(Json(delta), Is.EqualTo("""{"stop_reason":"stop_sequence","stop_sequence":"END"}"""));
    }

    [Test]
    public async Task VllmNumericStopReason_EndTurn()
    {
        // vLLM's stop_reason is a token id (a number) when an EOS token matched: not a stop sequence.
        var events = await RunAsync(Upstream(Text("x"), Chunk("{}", "stop", ""","stop_reason":128001"""), Done));

        Assert.That((string)events.Single(e => e.Type == "message_delta").Data["delta"]!["stop_reason"]!, Is.EqualTo("end_turn"));
    }

    [TestCase("stop", "end_turn")]
    [TestCase("length", "max_tokens")]
    [TestCase("tool_calls", "tool_use")]
    [TestCase("function_call", "tool_use")]
    [TestCase("content_filter", "refusal")]
    [TestCase("something_new", "end_turn")]
    public async Task Case18_FinishReasons_Mapped(string finish, string stopReason)
    {
        var events = await RunAsync(Upstream(Text("x"), Finish(finish), Done));

        Assert.That((string)events.Single(e => e.Type == "message_delta").Data["delta"]!["stop_reason"]!, Is.EqualTo(stopReason));
    }

    [Test]
    public async Task StopWithToolCalls_ToolUse()
    {
        var events = await RunAsync(Upstream(ToolStart(0, "c", "A", "{}"), Finish("stop"), Done));

        Assert.That((string)events.Single(e => e.Type == "message_delta").Data["delta"]!["stop_reason"]!, Is.EqualTo("tool_use"));
    }

    [Test]
    public async Task Refusal_TextAndRefusalStopReason([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Chunk("""{"refusal":"I can't help with that."}"""), Finish("stop"), Done), delivery);

        var message = Reassemble(events);
        Assert.That((string)message.Content[0]!["text"]!, Is.EqualTo("I can't help with that."));
        Assert.That((string)message.Message!["stop_reason"]!, Is.EqualTo("refusal"));
    }

    [Test]
    public async Task Case19_CachedTokens_ExcludedFromInputTokens([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Text("x"), Finish("stop"), Usage(1000, 10, cached: 800), Done), delivery);

        Assert.That(Json(events.Single(e => e.Type == "message_delta").Data["usage"]), Is.EqualTo("""{"input_tokens":200,"output_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":800}"""));
    }

    [Test]
    public async Task Case19_DeepSeekCacheHitAndOpenRouterCacheWrite_Mapped()
    {
        var deepseek = """{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":5,"prompt_cache_hit_tokens":300,"prompt_cache_miss_tokens":200}}""";
        var openrouter = """{"choices":[],"usage":{"prompt_tokens":500,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":250}}}""";

        var a = await RunAsync(Upstream(Text("x"), Finish("stop"), deepseek));
        var b = await RunAsync(Upstream(Text("x"), Finish("stop"), openrouter));

        Assert.That(Json(a.Single(e => e.Type == "message_delta").Data["usage"]), Is.EqualTo("""{"input_tokens":200,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":300}"""));
        Assert.That(Json(b.Single(e => e.Type == "message_delta").Data["usage"]), Is.EqualTo("""{"input_tokens":150,"output_tokens":5,"cache_creation_input_tokens":250,"cache_read_input_tokens":100}"""));
    }

    [Test]
    public async Task Case21_EmptyFinishReasonOnEveryChunk_Ignored([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Chunk("""{"content":"a"}""", ""), Chunk("""{"content":"b"}""", ""), Chunk("{}", "stop"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(Json(message.Content), Is.EqualTo("""[{"type":"text","text":"ab"}]"""));
        Assert.That(message.Stopped, Is.True);
    }

    [Test]
    public async Task Case21_EofWithoutFinishOrDone_ErrorEventNeverFakeEndTurn([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Text("partial ans")), delivery);

        Assert.That(Sequence(events), Is.EqualTo(new[] { "message_start", "start:text", "delta:text_delta", "content_block_stop", "error" }));
        Assert.That(Json(events[^1].Data), Is.EqualTo("""{"type":"error","error":{"type":"api_error","message":"upstream stream ended before it finished"}}"""));
        Assert.That(events.Any(e => e.Type is "message_delta" or "message_stop"), Is.False);
    }

    [Test]
    public async Task Case21_DoneWithoutFinishChunk_CompletesWithEndTurn([Values] Delivery delivery)
    {
        // apisix#13583: [DONE] with no finish chunk must not hang the client.
        var events = await RunAsync(Upstream(Text("hi"), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Stopped, Is.True);
        Assert.That((string)message.Message!["stop_reason"]!, Is.EqualTo("end_turn"));
    }

    [Test]
    public async Task Case21_FinalFrameWithoutTrailingBlankLine_StillConverted([Values] Delivery delivery)
    {
        var upstream = $"data: {Text("hi")}\n\ndata: {Finish("stop")}\n\ndata: {Usage(3, 1)}";
        var events = await RunAsync(upstream, delivery);

        var message = Reassemble(events);
        Assert.That(message.Stopped, Is.True);
        Assert.That((long)message.Message!["usage"]!["output_tokens"]!, Is.EqualTo(1));
    }

    [Test]
    public async Task DonePresentAndAbsent_SameOutput([Values] Delivery delivery)
    {
        var withDone = await ConvertAsync(Upstream(Text("hi"), Finish("stop"), Usage(3, 1), Done), delivery);
        var withoutDone = await ConvertAsync(Upstream(Text("hi"), Finish("stop"), Usage(3, 1)), delivery);

        Assert.That(withoutDone, Is.EqualTo(withDone));
    }

    [Test]
    public async Task Case33_ContentAndFinishInOneChunk_ContentFirst([Values] Delivery delivery)
    {
        // Fake streaming: everything in one chunk (LiteLLM _CombinedChunkSplitter).
        var one = Chunk("""{"role":"assistant","reasoning_content":"think","content":"All of it.","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"A","arguments":"{\"k\":\"v\"}"}}]}""", "tool_calls");
        var usage = ""","usage":{"prompt_tokens":5,"completion_tokens":6}""";
        var events = await RunAsync(Upstream(one.Insert(one.Length - 1, usage), Done), delivery);

        var message = Reassemble(events);
        Assert.That(message.Content.Select(b => (string)b!["type"]!), Is.EqualTo(new[] { "thinking", "text", "tool_use" }));
        Assert.That((string)message.Message!["stop_reason"]!, Is.EqualTo("tool_use"));
        Assert.That((long)message.Message["usage"]!["output_tokens"]!, Is.EqualTo(6));
    }

    [Test]
    public async Task EmptyAndNullContentDeltas_NoEmptyBlocks([Values] Delivery delivery)
    {
        var events = await RunAsync(Upstream(Role(), Chunk("""{"content":null}"""), Chunk("""{"content":""}"""), ToolStart(0, "c", "A", "{}"), Finish("tool_calls"), Done), delivery);

        Assert.That(Reassemble(events).Content.Select(b => (string)b!["type"]!), Is.EqualTo(new[] { "tool_use" }));
    }

    [TestCase("""{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}""", "api_error")]
    [TestCase("""{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}""", "rate_limit_error")]
    [TestCase("""{"error":{"code":429,"message":"Rate limited","metadata":{}}}""", "rate_limit_error")]
    [TestCase("""{"error":{"code":502,"message":"Provider returned error"}}""", "overloaded_error")]
    [TestCase("""{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}""", "billing_error")]
    [TestCase("""{"error":"upstream exploded"}""", "api_error")]
    public async Task MidStreamError_ErrorEventWithMappedType(string errorChunk, string type)
    {
        var events = await RunAsync(Upstream(Text("so far"), errorChunk, Text("ignored"), Done));

        Assert.That(Sequence(events), Is.EqualTo(new[] { "message_start", "start:text", "delta:text_delta", "error" }));
        Assert.That((string)events[^1].Data["error"]!["type"]!, Is.EqualTo(type));
        Assert.That((string)events[^1].Data["error"]!["message"]!, Is.Not.Empty);
        Reassemble(events);
    }

    [Test]
    public async Task MidStreamError_SetsFinished()
    {
        var converter = new ChatToMessagesStream(Model, ToolNameMap.Identity, 0, MessageId);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        converter.Convert(new SseEvent(null, """{"error":{"message":"boom","type":"server_error"}}""", null, false), output);
        var length = output.WrittenCount;
        converter.End(output);
        converter.Ping(output);

        Assert.That(converter.Finished, Is.True);
        Assert.That(output.WrittenCount, Is.EqualTo(length), "nothing after the error frame");
        await Task.CompletedTask;
    }

    [Test]
    public async Task OpenRouterFinishReasonError_ErrorEvent()
    {
        var events = await RunAsync(Upstream(Text("x"), Finish("error"), Done));

        Assert.That(events[^1].Type, Is.EqualTo("error"));
        Assert.That((string)events[^1].Data["error"]!["type"]!, Is.EqualTo("api_error"));
    }

    [Test]
    public async Task NamedErrorEventFromUpstream_ErrorEvent()
    {
        var events = await RunAsync("event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"}}\n\n");

        Assert.That(Json(events[^1].Data), Is.EqualTo("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"""));
    }

    [Test]
    public async Task Comments_Ignored([Values] Delivery delivery)
    {
        var upstream = ": OPENROUTER PROCESSING\n\n" + Upstream(Text("a")) + ": keep-alive\n\n" + Upstream(Finish("stop"), Done);
        var withComments = await ConvertAsync(upstream, delivery);
        var without = await ConvertAsync(Upstream(Text("a"), Finish("stop"), Done), delivery);

        Assert.That(withComments, Is.EqualTo(without));
    }

    [Test]
    public async Task Fail_ClosesNothing_WritesErrorOnly()
    {
        var converter = new ChatToMessagesStream(Model, ToolNameMap.Identity, 0, MessageId);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        converter.Convert(new SseEvent(null, Text("half"), null, false), output);
        converter.Fail("timeout_error", "upstream idle for 300 s", output);
        converter.End(output);

        var events = await ParseAsync(output.WrittenSpan.ToArray());
        Assert.That(Sequence(events), Is.EqualTo(new[] { "message_start", "start:text", "delta:text_delta", "error" }));
        Assert.That(Json(events[^1].Data), Is.EqualTo("""{"type":"error","error":{"type":"timeout_error","message":"upstream idle for 300 s"}}"""));
        Assert.That(converter.Finished, Is.True);
    }

    [Test]
    public async Task MalformedChunk_ErrorEvent()
    {
        var events = await RunAsync(Upstream(Text("a"), "{not json", Finish("stop")));

        Assert.That(events[^1].Type, Is.EqualTo("error"));
    }

    [Test]
    public async Task LongToolName_MappedBackToClientName([Values] Delivery delivery)
    {
        var names = new ToolNameMap();
        var longName = "mcp__" + new string('x', 70);
        var upstreamName = names.ToUpstream(longName);
        var events = await RunAsync(Upstream(ToolStart(0, "call_1", upstreamName, "{}"), Finish("tool_calls"), Done), delivery, names);

        Assert.That((string)Reassemble(events).Content[0]!["name"]!, Is.EqualTo(longName));
    }

    [Test]
    public async Task UpstreamToolIdWithColonAndDot_Sanitised([Values] Delivery delivery)
    {
        // §8 #8: Kimi sends ids like "functions.Bash:0".
        var events = await RunAsync(Upstream(ToolStart(0, "functions.Bash:0", "Bash", "{}"), Finish("tool_calls"), Done), delivery);

        var id = (string)Reassemble(events).Content[0]!["id"]!;
        Assert.That(id, Does.Match("^[a-zA-Z0-9_-]+$"));
        Assert.That(id, Is.EqualTo(AnthropicToolId.Sanitize("functions.Bash:0")));
    }

    [Test]
    public async Task CjkAndEmoji_SplitAtEveryByteOffset_Identical()
    {
        // §8 #20: multi-byte characters split across reads must not become U+FFFD.
        var upstream = Encoding.UTF8.GetBytes(Upstream(Reasoning("思考中…🤔"), Text("你好，世界 👋🏽 café"), ToolStart(0, "call_1", "Write", "{\"content\":\"日本語 🎌\"}"), Finish("tool_calls"), Usage(1, 2), Done));
        var expected = await ConvertAsync(new WholeStream(upstream));
        for (var k = 0; k <= upstream.Length; k++)
        {
            var split = await ConvertAsync(ChunkedStream.SplitAt(upstream, k));
            Assert.That(split, Is.EqualTo(expected), $"split at byte {k}");
        }

        var message = Reassemble(await ParseAsync(expected));
        Assert.That((string)message.Content[0]!["thinking"]!, Is.EqualTo("思考中…🤔"));
        Assert.That((string)message.Content[1]!["text"]!, Is.EqualTo("你好，世界 👋🏽 café"));
        Assert.That((string)message.Content[2]!["input"]!["content"]!, Is.EqualTo("日本語 🎌"));
    }

    [Test]
    public async Task Usage_PropertyFilledAsItGoes()
    {
        var converter = new ChatToMessagesStream(Model, ToolNameMap.Identity, 77, MessageId);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        Assert.That(converter.Usage.InputTokens, Is.EqualTo(77));
        converter.Convert(new SseEvent(null, Text("a"), null, false), output);
        converter.Convert(new SseEvent(null, Finish("stop"), null, false), output);
        converter.Convert(new SseEvent(null, Usage(900, 12, cached: 600), null, false), output);

        Assert.That((converter.Usage.InputTokens, converter.Usage.OutputTokens, converter.Usage.CacheReadInputTokens), Is.EqualTo((300L, 12L, 600L)));
        await Task.CompletedTask;
    }
}
