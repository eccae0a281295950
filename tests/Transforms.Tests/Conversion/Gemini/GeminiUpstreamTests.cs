using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Gemini;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.Gemini;

/// <summary>
/// A Messages request (Claude Code's) to Google's Gemini API, and the answer back: turns become contents with calls and
/// responses paired by id and name, Gemini's thoughtSignature rides in a thinking block and comes back on its part byte
/// for byte, and the answer, whole or streamed (Google's <c>\r\n\r\n</c> frames), becomes an Anthropic message.
/// </summary>
[TestFixture]
public sealed class GeminiUpstreamTests
{
    private const string Signature = "CiQBjz1rX+/Zz9k0Rw==AbC/+dEf";
    private static readonly ConversionOptions Options = new() { UpstreamModel = "gemini-2.5-pro", MaxTokensLimit = 8000 };

    // As the gateway writes JSON: emoji and base64's '+' unescaped.
    private static readonly System.Text.Json.JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Compact(JsonNode? node) => node!.ToJsonString(Relaxed);

    private static JsonObject Convert(string messagesRequest) =>
        JsonNode.Parse(GeminiUpstream.ConvertRequest(Encoding.UTF8.GetBytes(messagesRequest), Options).Value().Body)!.AsObject();

    [Test]
    public void ClaudeCodeToolLoop_BecomesContents_CallsAndResponsesPaired_SignatureBackOnItsCall()
    {
        var body = Convert("""
            {"model":"claude-sonnet-4-6","max_tokens":32000,"stream":true,"temperature":0.2,"stop_sequences":["END"],
             "system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be brief."}],
             "messages":[
               {"role":"user","content":[{"type":"text","text":"read note.txt"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]},
               {"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"GEMINI_SIGNATURE"},{"type":"tool_use","id":"toolu_gemini_1a","name":"Read","input":{"file_path":"note.txt"}},{"type":"tool_use","id":"call_b","name":"Grep","input":{"q":"x"}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_gemini_1a","content":[{"type":"text","text":"secret"}]},{"type":"tool_result","tool_use_id":"call_b","is_error":true,"content":"no match"},{"type":"text","text":"and?"}]},
               {"role":"assistant","content":[{"type":"thinking","thinking":"Anthropic's own","signature":"EqQBCkYIBxgCKkAnthropic"},{"type":"text","text":"Done."}]}],
             "tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}},{"type":"web_search_20250305","name":"web_search"}],
             "tool_choice":{"type":"tool","name":"Read"}}
            """.Replace("GEMINI_SIGNATURE", GatewayThinking.ForGemini(Signature), StringComparison.Ordinal));

        Assert.That(Compact(body["systemInstruction"]), Is.EqualTo("""{"parts":[{"text":"You are Claude Code.\n\nBe brief."}]}"""));
        var contents = body["contents"]!.AsArray();
        Assert.That(contents.Select(c => c!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "model", "user", "model" }));
        Assert.That(Compact(contents[0]!["parts"]), Is.EqualTo("""[{"text":"read note.txt"},{"inlineData":{"mimeType":"image/png","data":"iVBOR"}}]"""));
        var calls = contents[1]!["parts"]!.AsArray();
        Assert.That(Compact(calls[0]), Is.EqualTo($$$"""{"functionCall":{"name":"Read","args":{"file_path":"note.txt"}},"thoughtSignature":"{{{Signature}}}"}"""),
            "Gemini's signature goes back on the call after it, byte for byte; an id the gateway made up is not sent");
        Assert.That(Compact(calls[1]), Is.EqualTo("""{"functionCall":{"id":"call_b","name":"Grep","args":{"q":"x"}}}"""), "only the first call carries it");
        Assert.That(Compact(contents[2]!["parts"]), Is.EqualTo(
            """[{"functionResponse":{"name":"Read","response":{"output":"secret"}}},{"functionResponse":{"id":"call_b","name":"Grep","response":{"error":"no match"}}},{"text":"and?"}]"""));
        Assert.That(Compact(contents[3]!["parts"]), Is.EqualTo("""[{"text":"Done."}]"""), "Anthropic's thinking and signature never reach Google");
        Assert.That(Compact(body["tools"]), Is.EqualTo(
            """[{"functionDeclarations":[{"name":"Read","description":"Reads a file","parametersJsonSchema":{"type":"object","properties":{"file_path":{"type":"string"}}}}]}]"""));
        Assert.That(Compact(body["toolConfig"]), Is.EqualTo("""{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["Read"]}}"""));
        Assert.That(Compact(body["generationConfig"]), Is.EqualTo("""{"maxOutputTokens":8000,"temperature":0.2,"stopSequences":["END"],"candidateCount":1}"""));
        Assert.That(body.ContainsKey("model"), Is.False, "the model goes in the path");
    }

    [Test]
    public void ThinkingAndStructuredOutput_BecomeThinkingConfigAndJsonSchema()
    {
        var body = Convert("""
            {"model":"m","max_tokens":4000,"thinking":{"type":"enabled","budget_tokens":2048},
             "output_config":{"format":{"type":"json_schema","schema":{"type":"object","properties":{"n":{"type":"integer"}}}}},
             "messages":[{"role":"user","content":"count"}]}
            """);

        Assert.That(Compact(body["generationConfig"]), Is.EqualTo(
            """{"maxOutputTokens":4000,"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true},"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"n":{"type":"integer"}}},"candidateCount":1}"""));
    }

    [Test]
    public void Path_NamesTheChannelsModel_StreamAsSse()
    {
        Assert.That(GeminiUpstream.Codec.Path(new Transforms.Conversion.Hub.ConversionContext
        {
            ClientModel = "sonnet", Options = Options, Time = TimeProvider.System, ChannelName = "g",
        }, stream: true), Is.EqualTo("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"));
    }

    [Test]
    public void WholeAnswer_PartsBecomeBlocks_SignatureCarried_CachedTokensApart()
    {
        var answer = FakeGemini.Response(
            [FakeGemini.Part.Thought("Let me look."), FakeGemini.Part.Say("Reading."), FakeGemini.Part.Call("Read", """{"file_path":"a"}""", signature: Signature)],
            promptTokens: 100, outputTokens: 12, cachedTokens: 60, responseId: "abc");

        var message = JsonNode.Parse(GeminiUpstream.ConvertResponse(Encoding.UTF8.GetBytes(answer.ToJsonString()), "claude-sonnet-4-6"))!;

        Assert.That(message["id"]!.GetValue<string>(), Is.EqualTo("msg_abc"));
        var content = message["content"]!.AsArray();
        Assert.That(Compact(content[0]), Is.EqualTo($$"""{"type":"thinking","thinking":"Let me look.","signature":"{{GatewayThinking.Signature}}"}"""));
        Assert.That(Compact(content[1]), Is.EqualTo("""{"type":"text","text":"Reading."}"""));
        Assert.That(Compact(content[2]), Is.EqualTo($$"""{"type":"thinking","thinking":"","signature":"{{GatewayThinking.ForGemini(Signature)}}"}"""));
        Assert.That(content[3]!["type"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(content[3]!["id"]!.GetValue<string>(), Does.StartWith("toolu_gemini_"), "Gemini sent no id: the gateway names the call");
        Assert.That(Compact(content[3]!["input"]), Is.EqualTo("""{"file_path":"a"}"""));
        Assert.That(message["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(Compact(message["usage"]), Is.EqualTo("""{"input_tokens":40,"output_tokens":12,"cache_read_input_tokens":60,"cache_creation_input_tokens":0}"""));
    }

    [Test]
    public void SignatureRoundTrip_ThroughAnAnthropicClient_IsByteForByte()
    {
        var answer = FakeGemini.Response([FakeGemini.Part.Call("Read", """{"file_path":"a"}""", id: "fc_1", signature: Signature)]);
        var message = JsonNode.Parse(GeminiUpstream.ConvertResponse(Encoding.UTF8.GetBytes(answer.ToJsonString()), "m"))!;

        // The client sends its turn back as it got it, with the tool's result.
        var next = Convert($$"""
            {"model":"m","max_tokens":100,"messages":[{"role":"user","content":"go"},{"role":"assistant","content":{{message["content"]!.ToJsonString()}}},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"fc_1","content":"ok"}]}]}
            """);

        Assert.That(next["contents"]![1]!["parts"]![0]!["thoughtSignature"]!.GetValue<string>(), Is.EqualTo(Signature));
        Assert.That(next["contents"]![1]!["parts"]![0]!["functionCall"]!["id"]!.GetValue<string>(), Is.EqualTo("fc_1"));
        Assert.That(Compact(next["contents"]![2]!["parts"]), Is.EqualTo("""[{"functionResponse":{"id":"fc_1","name":"Read","response":{"output":"ok"}}}]"""));
    }

    [Test]
    public void BlockedPrompt_IsARefusal()
    {
        var message = JsonNode.Parse(GeminiUpstream.ConvertResponse("""{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5}}"""u8, "m"))!;

        Assert.That(message["stop_reason"]!.GetValue<string>(), Is.EqualTo("refusal"));
        Assert.That(message["content"]!.AsArray(), Is.Empty);
    }

    [Test]
    public void LongToolName_ShortenedForGemini_AndGivenBackInTheAnswer()
    {
        var name = "mcp__company-knowledge-base__search_documents_by_semantic_similarity_v2";
        var converted = GeminiUpstream.ConvertRequest(Encoding.UTF8.GetBytes($$$"""
            {"model":"m","max_tokens":100,"messages":[{"role":"user","content":"find"}],"tools":[{"name":"{{{name}}}","input_schema":{"type":"object"}}],
             "tool_choice":{"type":"tool","name":"{{{name}}}"}}
            """), Options).Value();
        var body = JsonNode.Parse(converted.Body)!;
        var sent = body["tools"]![0]!["functionDeclarations"]![0]!["name"]!.GetValue<string>();

        Assert.That(sent, Has.Length.LessThanOrEqualTo(64), "Gemini's limit");
        Assert.That(body["toolConfig"]!["functionCallingConfig"]!["allowedFunctionNames"]![0]!.GetValue<string>(), Is.EqualTo(sent));
        var answer = FakeGemini.Response([FakeGemini.Part.Call(sent, """{"q":"x"}""", id: "fc_1")]);
        var message = JsonNode.Parse(GeminiUpstream.ConvertResponse(Encoding.UTF8.GetBytes(answer.ToJsonString()), "m", toolNames: converted.ToolNames))!;
        Assert.That(message["content"]![0]!["name"]!.GetValue<string>(), Is.EqualTo(name), "the client gets its own name back");
    }

    [Test]
    public void TurnWithNothingGeminiReads_IsLeftOut_ATrailingSignatureKept()
    {
        var body = Convert("""
            {"model":"m","max_tokens":100,"messages":[
              {"role":"user","content":"hi"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"Anthropic's","signature":"EqAnthropic"}]},
              {"role":"user","content":"again"},
              {"role":"assistant","content":[{"type":"text","text":"Done."},{"type":"thinking","thinking":"","signature":"GEMINI_SIGNATURE"}]},
              {"role":"user","content":"thanks"}]}
            """.Replace("GEMINI_SIGNATURE", GatewayThinking.ForGemini(Signature), StringComparison.Ordinal));

        var contents = body["contents"]!.AsArray();
        Assert.That(contents.Select(c => c!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "user", "model", "user" }), "no content without parts");
        Assert.That(Compact(contents[2]!["parts"]), Is.EqualTo($$$"""[{"text":"Done."},{"text":"","thoughtSignature":"{{{Signature}}}"}]"""));
    }

    [Test]
    public void CallsFromAnotherFamily_FirstOfTheTurnCarriesGooglesSkipMarker()
    {
        var body = Convert("""
            {"model":"m","max_tokens":100,"messages":[{"role":"user","content":"go"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"Claude's","signature":"EqAnthropic"},{"type":"tool_use","id":"toolu_1","name":"Read","input":{}},{"type":"tool_use","id":"toolu_2","name":"Grep","input":{}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a"},{"type":"tool_result","tool_use_id":"toolu_2","content":"b"}]}]}
            """);

        var calls = body["contents"]![1]!["parts"]!.AsArray();
        Assert.That(calls[0]!["thoughtSignature"]!.GetValue<string>(), Is.EqualTo("skip_thought_signature_validator"),
            "Gemini 3 refuses a turn whose first call is unsigned; Anthropic's signature is never sent in its place");
        Assert.That(calls[1]!.AsObject().ContainsKey("thoughtSignature"), Is.False);
    }

    [Test]
    public void ToolResultWithoutItsCall_IsRefusedNamingTheId()
    {
        var refusal = GeminiUpstream.ConvertRequest("""
            {"model":"m","max_tokens":100,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_gone","content":"ok"}]}]}
            """u8, Options).Refusal();

        Assert.That(refusal, Does.Contain("toolu_gone"));
    }

    [Test]
    public void MappedModelWithGooglesPrefix_NotEscapedIntoThePath()
    {
        var context = new Transforms.Conversion.Hub.ConversionContext
        {
            ClientModel = "m", Options = Options with { UpstreamModel = "models/gemini-2.5-flash" }, Time = TimeProvider.System, ChannelName = "g",
        };

        Assert.That(GeminiUpstream.Codec.Path(context, stream: false), Is.EqualTo("/v1beta/models/gemini-2.5-flash:generateContent"));
    }

    [Test]
    public async Task Stream_MalformedFunctionCall_IsAnErrorEvent_NotAQuietEndOfTurn()
    {
        var broken = Upstream([FakeGemini.Chunk(JsonNode.Parse("""{"candidates":[{"content":{"role":"model"},"finishReason":"MALFORMED_FUNCTION_CALL","index":0}]}""")!)]);

        var events = await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), new WholeStream(broken)));

        Assert.That(events[^1].EventType, Is.EqualTo("error"));
        Assert.That(events[^1].Data, Does.Contain("MALFORMED_FUNCTION_CALL"));
        Assert.That(events.Select(e => e.EventType), Does.Not.Contain("message_stop"));
    }

    private static byte[] Upstream(IEnumerable<StreamStep> steps) => Encoding.UTF8.GetBytes(string.Concat(steps.Select(s => s.WireText)));

    private static readonly byte[] s_toolTurn = Upstream(FakeGemini.Stream(
        [FakeGemini.Part.Thought("Plan: read it."), FakeGemini.Part.Say("Reading 👋 now"), FakeGemini.Part.Call("Read", """{"file_path":"note.txt"}""", id: "fc_9", signature: Signature)],
        promptTokens: 70, outputTokens: 7, cachedTokens: 20, responseId: "s1"));

    [Test]
    public async Task Stream_ToolTurn_BecomesAnthropicBlocksInOrder()
    {
        Assert.That(Encoding.UTF8.GetString(s_toolTurn), Does.Contain("\r\n\r\ndata: "), "Google's framing");
        var converter = GeminiUpstream.CreateStreamConverter("claude-sonnet-4-6", 55);
        var events = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(converter, new WholeStream(s_toolTurn))))
            .Select(e => JsonNode.Parse(e.Data)!).ToList();

        Assert.That(events.Select(e => e["type"]!.GetValue<string>() + (e["delta"]?["type"] is { } d ? ":" + d.GetValue<string>() : "")), Is.EqualTo(new[]
        {
            "message_start",
            "content_block_start", "content_block_delta:thinking_delta", "content_block_delta:signature_delta", "content_block_stop",
            "content_block_start", "content_block_delta:text_delta", "content_block_delta:text_delta", "content_block_stop",
            "content_block_start", "content_block_delta:signature_delta", "content_block_stop",
            "content_block_start", "content_block_delta:input_json_delta", "content_block_stop",
            "message_delta", "message_stop",
        }));
        Assert.That(events[0]["message"]!["id"]!.GetValue<string>(), Is.EqualTo("msg_s1"));
        Assert.That(events[0]["message"]!["usage"]!["input_tokens"]!.GetValue<long>(), Is.EqualTo(55));
        Assert.That(events[6]!["delta"]!["text"]!.GetValue<string>() + events[7]!["delta"]!["text"]!.GetValue<string>(), Is.EqualTo("Reading 👋 now"));
        Assert.That(events[10]!["delta"]!["signature"]!.GetValue<string>(), Is.EqualTo(GatewayThinking.ForGemini(Signature)));
        Assert.That(Compact(events[12]["content_block"]), Is.EqualTo("""{"type":"tool_use","id":"fc_9","name":"Read","input":{}}"""));
        Assert.That(Compact(JsonNode.Parse(events[13]!["delta"]!["partial_json"]!.GetValue<string>())), Is.EqualTo("""{"file_path":"note.txt"}"""));
        Assert.That(events[15]["delta"]!["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That((converter.Usage.InputTokens, converter.Usage.OutputTokens, converter.Usage.CacheReadInputTokens), Is.EqualTo((50L, 7L, 20L)));
    }

    [Test]
    public async Task Stream_AnySplitOfTheUpstreamBytes_GivesTheSameEvents()
    {
        var whole = await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), new WholeStream(s_toolTurn));

        for (var k = 0; k <= s_toolTurn.Length; k += 3)
        {
            var split = await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), ChunkedStream.SplitAt(s_toolTurn, k));
            Assert.That(split, Is.EqualTo(whole), $"split at {k}");
        }
    }

    [Test]
    public async Task Stream_CutBeforeItsFinishReason_EndsInAnErrorEvent_NeverAStop()
    {
        var cut = Upstream(FakeGemini.Stream([FakeGemini.Part.Say("Half of it")]).Take(1));

        var events = await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), new WholeStream(cut)));

        Assert.That(events[^1].EventType, Is.EqualTo("error"));
        Assert.That(events.Select(e => e.EventType), Does.Not.Contain("message_stop"));
    }

    [Test]
    public async Task Stream_ErrorChunk_CodeAsAString_StillMapped()
    {
        var failed = Upstream([FakeGemini.Chunk(JsonNode.Parse("""{"error":{"code":"503","message":"The model is overloaded.","status":"UNAVAILABLE"}}""")!)]);

        var events = await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), new WholeStream(failed)));

        Assert.That(JsonNode.Parse(events.Single().Data)!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("overloaded_error"));
    }

    // Mid-stream, the same type as the whole answer's error would have (UpstreamError_InAnthropicsShape).
    [TestCase(503, "UNAVAILABLE", "overloaded_error")]
    [TestCase(502, "UNAVAILABLE", "overloaded_error")]
    [TestCase(408, "DEADLINE_EXCEEDED", "timeout_error")]
    [TestCase(429, "RESOURCE_EXHAUSTED", "rate_limit_error")]
    [TestCase(500, "INTERNAL", "api_error")]
    public async Task Stream_ErrorChunk_IsAnAnthropicErrorEvent(int status, string googleStatus, string expectedType)
    {
        var failed = Upstream([FakeGemini.Chunk(FakeGemini.Error(status, "The model is overloaded.", googleStatus))]);

        var events = await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiUpstream.CreateStreamConverter("m", 1), new WholeStream(failed)));

        var error = JsonNode.Parse(events.Single().Data)!["error"]!;
        Assert.That((error["type"]!.GetValue<string>(), error["message"]!.GetValue<string>()), Is.EqualTo((expectedType, "The model is overloaded.")));
    }

    [TestCase(503, "UNAVAILABLE", "The model is overloaded.", 529, "overloaded_error", "The model is overloaded.")]
    [TestCase(502, "UNAVAILABLE", "Bad gateway.", 529, "overloaded_error", "Bad gateway.")]
    [TestCase(408, "DEADLINE_EXCEEDED", "Deadline exceeded.", 408, "timeout_error", "Deadline exceeded.")]
    [TestCase(429, "RESOURCE_EXHAUSTED", "Quota exceeded.", 429, "rate_limit_error", "Quota exceeded.")]
    [TestCase(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", 400, "invalid_request_error",
        "prompt is too long: 1200000 tokens > 1048576 maximum")]
    [TestCase(404, "NOT_FOUND", "models/x is not found", 404, "not_found_error", "models/x is not found")]
    public void UpstreamError_InAnthropicsShape(int status, string googleStatus, string message, int expectedStatus, string expectedType, string expectedMessage)
    {
        var (mapped, body) = ErrorMapping.UpstreamToAnthropic(status, Encoding.UTF8.GetBytes(FakeGemini.Error(status, message, googleStatus).ToJsonString()), "req_1");

        var error = JsonNode.Parse(body)!["error"]!;
        Assert.That((mapped, error["type"]!.GetValue<string>(), error["message"]!.GetValue<string>()), Is.EqualTo((expectedStatus, expectedType, expectedMessage)));
    }
}
