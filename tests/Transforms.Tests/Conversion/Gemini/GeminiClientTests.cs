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
/// Gemini clients (the Gemini CLI's requests as captured) served from Messages: the request becomes a Messages request
/// with calls and responses paired, Gemini's own proof dropped; the answer, whole or streamed as SSE or as one JSON
/// array, becomes Gemini's with the tool ids kept for the next turn; errors come in Google's shape.
/// </summary>
[TestFixture]
public sealed class GeminiClientTests
{
    private static readonly ConversionOptions Options = new() { UpstreamModel = "claude-sonnet-4-6", MaxTokensLimit = 16000 };

    // As the gateway writes JSON: emoji and base64's '+' unescaped.
    private static readonly System.Text.Json.JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Compact(JsonNode? node) => node!.ToJsonString(Relaxed);

    private static JsonObject ToMessages(string geminiRequest, bool stream = true) =>
        JsonNode.Parse(GeminiClient.ConvertRequest(Encoding.UTF8.GetBytes(geminiRequest), stream, Options).Value().Body)!.AsObject();

    private static string Refusal(string geminiRequest) =>
        GeminiClient.ConvertRequest(Encoding.UTF8.GetBytes(geminiRequest), stream: false, Options).Refusal();

    [Test]
    public void GeminiCliToolTurn_BecomesMessages_CallsAndResponsesPairedById_SignaturesDropped()
    {
        var body = ToMessages("""
            {"contents":[
               {"role":"user","parts":[{"text":"list the files"}]},
               {"role":"model","parts":[{"text":"thinking…","thought":true},{"functionCall":{"id":"run_1","name":"run_shell_command","args":{"command":"ls"}},"thoughtSignature":"c2lnbmF0dXJl"}]},
               {"role":"user","parts":[{"functionResponse":{"id":"run_1","name":"run_shell_command","response":{"output":"a.txt\nb.txt"}}}]}],
             "systemInstruction":{"role":"user","parts":[{"text":"You are the Gemini CLI."}]},
             "tools":[{"functionDeclarations":[{"name":"run_shell_command","description":"Runs a command","parameters":{"type":"OBJECT","properties":{"command":{"type":"STRING","nullable":true}},"required":["command"]}}]},{"googleSearch":{}}],
             "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},
             "generationConfig":{"temperature":0,"topP":1,"maxOutputTokens":65536,"stopSequences":["STOP!"],"thinkingConfig":{"includeThoughts":true,"thinkingBudget":0}},
             "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}
            """);

        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(body["stream"]!.GetValue<bool>(), Is.True, "streamGenerateContent streams");
        Assert.That(Compact(body["system"]![0]!["text"]), Is.EqualTo("\"You are the Gemini CLI.\""));
        var messages = body["messages"]!.AsArray();
        Assert.That(messages.Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        var call = messages[1]!["content"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.That((call["id"]!.GetValue<string>(), call["name"]!.GetValue<string>(), Compact(call["input"])), Is.EqualTo(("run_1", "run_shell_command", """{"command":"ls"}""")));
        Assert.That(messages[1]!.ToJsonString(), Does.Not.Contain("c2lnbmF0dXJl").And.Not.Contain("thinking…"), "Gemini's proof stays in its family");
        var result = messages[2]!["content"]![0]!;
        Assert.That((result["tool_use_id"]!.GetValue<string>(), Compact(result["content"])), Is.EqualTo(("run_1", """[{"type":"text","text":"a.txt\nb.txt"}]""")));
        var tool = body["tools"]!.AsArray().Single()!;
        Assert.That(Compact(tool["input_schema"]), Is.EqualTo("""{"type":"object","properties":{"command":{"type":["string","null"]}},"required":["command"]}"""),
            "Google's OpenAPI schema becomes JSON Schema; Google's own tools are dropped");
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(16000), "clamped to the channel's limit");
        Assert.That(Compact(body["stop_sequences"]), Is.EqualTo("""["STOP!"]"""));
        Assert.That(Compact(body["thinking"]), Is.EqualTo("""{"type":"disabled"}"""), "thinkingBudget 0 turns thinking off");
        Assert.That(body.ToJsonString(), Does.Not.Contain("HARM_CATEGORY"), "safety settings are for Google only");
    }

    [Test]
    public void CallsWithoutIds_PairedWithTheirResponsesByNameAndOrder()
    {
        var body = ToMessages("""
            {"contents":[
               {"role":"user","parts":[{"text":"go"}]},
               {"role":"model","parts":[{"functionCall":{"name":"read_file","args":{"p":"a"}}},{"functionCall":{"name":"read_file","args":{"p":"b"}}}]},
               {"role":"user","parts":[{"functionResponse":{"name":"read_file","response":{"output":"A"}}},{"functionResponse":{"name":"read_file","response":{"error":"missing"}}}]}]}
            """, stream: false);

        var messages = body["messages"]!.AsArray();
        var ids = messages[1]!["content"]!.AsArray().Select(b => b!["id"]!.GetValue<string>()).ToList();
        var results = messages[2]!["content"]!.AsArray();
        Assert.That(ids.Distinct().Count(), Is.EqualTo(2));
        Assert.That(results.Select(r => r!["tool_use_id"]!.GetValue<string>()), Is.EqualTo(ids));
        Assert.That(results[1]!["content"]!.ToJsonString(), Does.Contain("missing"), "an error response reaches the model as what it is");
        Assert.That(body.ContainsKey("stream"), Is.False);
    }

    [TestCase("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":2}}""", "candidateCount")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"cachedContent":"cachedContents/abc"}""", "cachedContent")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"video/mp4","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/x"}}]}]}""", "fileData")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"audio/wav","data":"AAAA"}}]}]}""", "audio/wav")]
    [TestCase("""{"contents":[]}""", "contents")]
    [TestCase("{\"contents\":[{\"role\":\"user\"", "malformed JSON")]
    public void WhatCannotBeCarried_IsRefused_NamingTheField(string request, string named)
    {
        Assert.That(Refusal(request), Does.Contain(named));
    }

    // What the Chat converter underneath refuses is named as the Gemini client sent it, never by a Chat field.
    [TestCase("""{"contents":[{"role":"user","parts":[]}]}""", "contents: at least one user or assistant message with content is required")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":0}}""", "generationConfig.maxOutputTokens: must be a positive integer")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"temperature":"hot"}}""", "generationConfig.temperature: must be a number")]
    [TestCase("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingLevel":"ultra"}}}""",
        "generationConfig.thinkingConfig.thinkingLevel: 'ultra' is not one of MINIMAL, LOW, MEDIUM, HIGH")]
    public void Refusals_NameTheGeminiField(string request, string expected)
    {
        Assert.That(Refusal(request), Is.EqualTo(expected));
    }

    [TestCase("""{"maxOutputTokens":"1000","temperature":"0.25"}""")]
    [TestCase("""{"maxOutputTokens":1000.0,"temperature":0.25}""")]
    [TestCase("""{"maxOutputTokens":"1e3","temperature":"2.5e-1"}""")]
    public void NumbersAsStringsOrWhole_AsGooglesJsonMappingTakesThem_AreRead(string generationConfig)
    {
        var body = ToMessages($$"""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{{generationConfig}}}""");

        Assert.That((body["max_tokens"]!.GetValue<long>(), body["temperature"]!.GetValue<double>()), Is.EqualTo((1000L, 0.25)));
    }

    [Test]
    public void NumericStrings_ElsewhereInGenerationConfig_AreReadNotAFault()
    {
        Assert.That(Refusal("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":"2"}}"""), Does.Contain("candidateCount"));
        var body = ToMessages("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"thinkingConfig":{"thinkingBudget":"0"}}}""");
        Assert.That(Compact(body["thinking"]), Is.EqualTo("""{"type":"disabled"}"""));
    }

    [Test]
    public void SnakeCaseFields_AsGooglesOwnExamplesWriteThem_AreRead()
    {
        var body = ToMessages("""
            {"system_instruction":{"parts":[{"text":"Be terse."}]},
             "contents":[{"role":"user","parts":[{"text":"see"},{"inline_data":{"mime_type":"image/jpeg","data":"/9j/"}}]}],
             "generation_config":{"max_output_tokens":100,"response_mime_type":"application/json"}}
            """, stream: false);

        Assert.That(body["system"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Be terse."));
        Assert.That(body["messages"]![0]!["content"]![1]!["source"]!["media_type"]!.GetValue<string>(), Is.EqualTo("image/jpeg"));
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(100));
    }

    [Test]
    public void WholeAnswer_BecomesAGenerateContentResponse_ToolIdKept_CachedTokensInsideThePrompt()
    {
        var message = FakeAnthropic.Message("claude-sonnet-4-6",
            [FakeAnthropic.TextBlock("Listing."), FakeAnthropic.ToolUseBlock("toolu_01", "run_shell_command", new JsonObject { ["command"] = "ls" })],
            stopReason: "tool_use", inputTokens: 10, outputTokens: 5);
        message["usage"]!["cache_read_input_tokens"] = 90;

        var answer = JsonNode.Parse(GeminiClient.ConvertResponse(Encoding.UTF8.GetBytes(message.ToJsonString()), "gemini-2.5-pro"))!;

        var candidate = answer["candidates"]![0]!;
        Assert.That(Compact(candidate["content"]), Is.EqualTo(
            """{"role":"model","parts":[{"text":"Listing."},{"functionCall":{"id":"toolu_01","name":"run_shell_command","args":{"command":"ls"}}}]}"""));
        Assert.That(candidate["finishReason"]!.GetValue<string>(), Is.EqualTo("STOP"));
        Assert.That(Compact(answer["usageMetadata"]), Is.EqualTo("""{"promptTokenCount":100,"candidatesTokenCount":5,"totalTokenCount":105,"cachedContentTokenCount":90}"""));
        Assert.That(answer["modelVersion"]!.GetValue<string>(), Is.EqualTo("gemini-2.5-pro"));
    }

    private static byte[] AnthropicToolTurn() => Encoding.UTF8.GetBytes(string.Concat(new[]
    {
        FakeAnthropic.MessageStart("claude-sonnet-4-6", inputTokens: 12),
        FakeAnthropic.ThinkingBlockStart(0), FakeAnthropic.ThinkingDelta(0, "Plan."), FakeAnthropic.SignatureDelta(0, "EqAnthropicSig"), FakeAnthropic.BlockStop(0),
        FakeAnthropic.TextBlockStart(1), FakeAnthropic.TextDelta(1, "Listing "), FakeAnthropic.TextDelta(1, "files 👋"), FakeAnthropic.BlockStop(1),
        FakeAnthropic.ToolUseBlockStart(2, "toolu_02", "run_shell_command"), FakeAnthropic.InputJsonDelta(2, "{\"comm"), FakeAnthropic.InputJsonDelta(2, "and\":\"ls\"}"), FakeAnthropic.BlockStop(2),
        FakeAnthropic.MessageDelta("tool_use", 9), FakeAnthropic.MessageStop(),
    }.Select(s => s.WireText)));

    [Test]
    public async Task Stream_Sse_OneChunkPerPiece_CallWhole_FinishAndUsageLast()
    {
        var converter = GeminiClient.CreateStreamConverter("gemini-2.5-pro", jsonArray: false);
        var chunks = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(converter, new WholeStream(AnthropicToolTurn()))))
            .Select(e => JsonNode.Parse(e.Data)!).ToList();

        var parts = chunks.SelectMany(c => c["candidates"]![0]!["content"]!["parts"]!.AsArray()).Select(Compact).ToList();
        Assert.That(parts, Is.EqualTo(new[]
        {
            """{"text":"Plan.","thought":true}""", """{"text":"Listing "}""", """{"text":"files 👋"}""",
            """{"functionCall":{"id":"toolu_02","name":"run_shell_command","args":{"command":"ls"}}}""",
        }.Select(p => Compact(JsonNode.Parse(p)))), "Anthropic's signature never reaches a Gemini client");
        Assert.That(chunks[^1]["candidates"]![0]!["finishReason"]!.GetValue<string>(), Is.EqualTo("STOP"));
        Assert.That(chunks.Take(chunks.Count - 1).Any(c => c["candidates"]![0]!["finishReason"] is not null), Is.False);
        Assert.That(chunks[^1]["usageMetadata"]!["candidatesTokenCount"]!.GetValue<long>(), Is.EqualTo(9));
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(9));
    }

    [Test]
    public async Task Stream_JsonArray_IsOneJsonArrayOfTheSameChunks()
    {
        var sse = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: false), new WholeStream(AnthropicToolTurn()))))
            .Select(e => JsonNode.Parse(e.Data)!["candidates"]!.ToJsonString()).ToList();
        var array = await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: true), new WholeStream(AnthropicToolTurn()));

        var parsed = JsonNode.Parse(array)!.AsArray();
        Assert.That(parsed.Select(c => c!["candidates"]!.ToJsonString()), Is.EqualTo(sse));
    }

    [Test]
    public async Task Stream_AnthropicErrorMidway_IsGooglesErrorObject_AndTheEnd()
    {
        var failed = Encoding.UTF8.GetBytes(string.Concat(new[]
        {
            FakeAnthropic.MessageStart("m"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "Hal"), FakeAnthropic.Error("overloaded_error", "Overloaded"),
        }.Select(s => s.WireText)));

        var array = await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: true), new WholeStream(failed));

        var parsed = JsonNode.Parse(array)!.AsArray();
        Assert.That(Compact(parsed[^1]), Is.EqualTo("""{"error":{"code":503,"message":"Overloaded","status":"UNAVAILABLE"}}"""));
    }

    [Test]
    public async Task Stream_CutBeforeMessageStop_EndsInAnError_NeverAFinishReason()
    {
        var cut = AnthropicToolTurn()[..^60];

        var chunks = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: false), new WholeStream(cut))))
            .Select(e => JsonNode.Parse(e.Data)!).ToList();

        Assert.That(chunks[^1]["error"]!["status"]!.GetValue<string>(), Is.EqualTo("INTERNAL"));
        Assert.That(chunks.Any(c => c["candidates"]?[0]?["finishReason"] is not null), Is.False);
    }

    [Test]
    public async Task Stream_AnySplitOfTheUpstreamBytes_GivesTheSameChunks()
    {
        var bytes = AnthropicToolTurn();
        static string Normalised(byte[] output) => System.Text.RegularExpressions.Regex.Replace(Encoding.UTF8.GetString(output), "\"responseId\":\"[^\"]*\"", "\"responseId\":…");
        var whole = await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: false), new WholeStream(bytes));

        for (var k = 0; k <= bytes.Length; k += 7)
        {
            var split = await StreamHarness.RunAsync(GeminiClient.CreateStreamConverter("g", jsonArray: false), ChunkedStream.SplitAt(bytes, k));
            Assert.That(Normalised(split), Is.EqualTo(Normalised(whole)), $"split at {k}");
        }
    }

    [Test]
    public void CountTokens_WrappedRequestNamesTheChannelsModel_ABareOneIsLeftAsSent()
    {
        var wrapped = """{"generateContentRequest":{"model":"models/sonnet","contents":[{"role":"user","parts":[{"text":"hi"}]}]}}"""u8.ToArray();
        var bare = """{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"""u8.ToArray();

        var forChannel = JsonNode.Parse(GeminiClient.CountTokensForModel(wrapped, "gemini-2.5-flash").Span)!;

        Assert.That(forChannel["generateContentRequest"]!["model"]!.GetValue<string>(), Is.EqualTo("models/gemini-2.5-flash"));
        Assert.That(GeminiClient.CountTokensForModel(bare, "gemini-2.5-flash").ToArray(), Is.EqualTo(bare));
    }

    [TestCase(529, 503, "UNAVAILABLE")]
    [TestCase(429, 429, "RESOURCE_EXHAUSTED")]
    [TestCase(401, 401, "UNAUTHENTICATED")]
    [TestCase(404, 404, "NOT_FOUND")]
    public void AnthropicError_InGooglesShape(int status, int expectedStatus, string expectedGoogleStatus)
    {
        var (mapped, body) = ErrorMapping.AnthropicToGoogle(status, ErrorBodies.Anthropic(ErrorBodies.AnthropicType(status), "what happened", "req_1"));

        var error = JsonNode.Parse(body)!["error"]!;
        Assert.That((mapped, error["code"]!.GetValue<int>(), error["status"]!.GetValue<string>(), error["message"]!.GetValue<string>()),
            Is.EqualTo((expectedStatus, expectedStatus, expectedGoogleStatus, "what happened")));
    }
}
