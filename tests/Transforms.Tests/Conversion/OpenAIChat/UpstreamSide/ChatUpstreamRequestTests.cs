using System.Text.Encodings.Web;
using System.Text.Json.Nodes;
using System.Text.Json;
using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Conversion;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

/// <summary>docs/protocols.md §1 (Anthropic request → OpenAI request), §8 and §9 cases of this direction.</summary>
[TestFixture]
public sealed class ChatUpstreamRequestTests
{
    private static readonly ConversionOptions Options = new() { UpstreamModel = "deepseek-chat" };

    private static JsonObject Convert(string json, ConversionOptions? options = null)
    {
        var result = ChatUpstream.ConvertRequest(Encoding.UTF8.GetBytes(json), options ?? Options);
        return JsonNode.Parse(result.Value().Body)!.AsObject();
    }

    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Json(JsonNode? node) => node?.ToJsonString(Relaxed) ?? "null";

    private static string Request(string messages, string extra = "") =>
        $$$"""{"model":"claude-sonnet-4-6","max_tokens":1024,"messages":{{{messages}}}{{{extra}}}}""";

    // ---- Recorded Claude Code requests -------------------------------------------------------------

    [TestCaseSource(typeof(RecordedRequests), nameof(RecordedRequests.ClaudeCodeVersions))]
    public void ClaudeCode_FirstTurn_ConvertsToWhatOpenAIUpstreamsAccept(string version)
    {
        var body = RecordedRequests.ClaudeCodeFirstTurnBody(version);
        var original = JsonNode.Parse(body)!.AsObject();
        var options = new ConversionOptions { UpstreamModel = "deepseek-chat", MaxTokensLimit = 8192, StripClaudeCodeAttribution = true };

        var result = ChatUpstream.ConvertRequest(body, options);

        Assert.That(result.Value().Stream, Is.True);
        var text = Encoding.UTF8.GetString(result.Value().Body);
        var converted = JsonNode.Parse(text)!.AsObject();
        Assert.That(text, Does.Not.Contain("x-anthropic-billing-header"));
        foreach (var key in new[] { "\"cache_control\":", "\"context_management\":", "\"thinking\":", "\"output_config\":", "\"$schema\":", "\"defer_loading\":", "\"display\":" })
        {
            Assert.That(text, Does.Not.Contain(key), key);
        }

        Assert.That(converted.Select(p => p.Key), Is.EqualTo(new[] { "model", "messages", "max_tokens", "stream", "stream_options", "user", "tools", "reasoning_effort" }));
        Assert.That((string)converted["model"]!, Is.EqualTo("deepseek-chat"));
        Assert.That((int)converted["max_tokens"]!, Is.EqualTo(8192));
        Assert.That((string)converted["reasoning_effort"]!, Is.EqualTo("high"));
        Assert.That(Json(converted["stream_options"]), Is.EqualTo("""{"include_usage":true}"""));

        // metadata.user_id is a JSON string longer than 64 characters: hashed to fit OpenAI's limit.
        Assert.That((string)converted["user"]!, Has.Length.LessThanOrEqualTo(64).And.Not.Empty);

        var tools = converted["tools"]!.AsArray();
        Assert.That(tools, Has.Count.EqualTo(original["tools"]!.AsArray().Count));
        Assert.That(tools.Count, Is.EqualTo(version == "2.1.197" ? 24 : 12));
        foreach (var tool in tools)
        {
            Assert.That((string)tool!["type"]!, Is.EqualTo("function"));
            Assert.That(tool["function"]!.AsObject().Select(p => p.Key), Is.SubsetOf(new[] { "name", "description", "parameters" }));
            Assert.That((string)tool["function"]!["parameters"]!["type"]!, Is.EqualTo("object"));
        }

        // The system prompt: one first message, the attribution block dropped, blocks joined with a blank line.
        var messages = converted["messages"]!.AsArray();
        Assert.That((string)messages[0]!["role"]!, Is.EqualTo("system"));
        var systemBlocks = original["system"]!.AsArray().Select(b => (string)b!["text"]!).Where(t => !t.StartsWith("x-anthropic-billing-header:", StringComparison.Ordinal));
        Assert.That((string)messages[0]!["content"]!, Is.EqualTo(string.Join("\n\n", systemBlocks)));
        Assert.That(messages.Skip(1).Select(m => (string)m!["role"]!), Has.All.EqualTo("user"));
    }

    [Test]
    public void ClaudeCode_DeferredToolPlaceholder_KeptWithoutDeferLoading()
    {
        var converted = Convert(Encoding.UTF8.GetString(RecordedRequests.ClaudeCodeFirstTurnBody("2.1.330")));

        var placeholder = converted["tools"]!.AsArray().Single(t => (string)t!["function"]!["name"]! == "DeferredToolPlaceholder");
        Assert.That(placeholder!.ToJsonString(), Does.Not.Contain("defer_loading"));
    }

    [Test]
    public void ClaudeCode_WithoutStripping_AttributionKept()
    {
        var converted = Convert(Encoding.UTF8.GetString(RecordedRequests.ClaudeCodeFirstTurnBody("2.1.197")));

        Assert.That((string)converted["messages"]![0]!["content"]!, Does.StartWith("x-anthropic-billing-header:"));
        Assert.That(converted.ContainsKey("max_tokens"), Is.True);
        Assert.That((int)converted["max_tokens"]!, Is.EqualTo(32000), "no limit configured: unchanged");
    }

    // ---- Top-level fields ---------------------------------------------------------------------------

    [Test]
    public void Case26_MaxTokens_ClampedAndWrittenUnderConfiguredField()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""").Replace("1024", "64000", StringComparison.Ordinal), Options with { MaxTokensLimit = 8192, MaxTokensField = "max_completion_tokens" });

        Assert.That((int)converted["max_completion_tokens"]!, Is.EqualTo(8192));
        Assert.That(converted.ContainsKey("max_tokens"), Is.False);
    }

    [Test]
    public void MaxTokens_BelowLimit_Unchanged()
    {
        Assert.That((int)Convert(Request("""[{"role":"user","content":"hi"}]"""), Options with { MaxTokensLimit = 8192 })["max_tokens"]!, Is.EqualTo(1024));
    }

    [Test]
    public void SamplingAndStop_Mapped_TopKDropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", ""","temperature":0.7,"top_p":0.9,"top_k":40,"stop_sequences":["a","b","c","d","e"]"""));

        Assert.That(Json(converted["temperature"]), Is.EqualTo("0.7"));
        Assert.That(Json(converted["top_p"]), Is.EqualTo("0.9"));
        Assert.That(converted.ContainsKey("top_k"), Is.False);
        Assert.That(Json(converted["stop"]), Is.EqualTo("""["a","b","c","d"]"""));
    }

    [TestCase(true, true, """{"include_usage":true}""")]
    [TestCase(true, false, null)]
    public void Stream_StreamOptionsWhenAsked(bool stream, bool includeUsage, string? streamOptions)
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", ""","stream":true"""), Options with { IncludeStreamUsage = includeUsage });

        Assert.That(Json(converted["stream"]), Is.EqualTo(stream ? "true" : "false"));
        Assert.That(converted["stream_options"]?.ToJsonString(), Is.EqualTo(streamOptions));
    }

    [Test]
    public void NotStreaming_NoStreamOptions()
    {
        var result = ChatUpstream.ConvertRequest(Encoding.UTF8.GetBytes(Request("""[{"role":"user","content":"hi"}]""", ""","stream":false""")), Options);
        var converted = JsonNode.Parse(result.Value().Body)!.AsObject();

        Assert.That(result.Value().Stream, Is.False);
        Assert.That(converted.ContainsKey("stream_options"), Is.False);
    }

    [TestCase("user-123", "user-123")]
    public void MetadataUserId_ShortCopied(string userId, string expected)
    {
        Assert.That((string)Convert(Request("""[{"role":"user","content":"hi"}]""", $$$""","metadata":{"user_id":"{{{userId}}}"}"""))["user"]!, Is.EqualTo(expected));
    }

    [Test]
    public void MetadataUserId_Long_HashedDeterministically()
    {
        var id = new string('u', 100);
        var a = (string)Convert(Request("""[{"role":"user","content":"hi"}]""", $$$""","metadata":{"user_id":"{{{id}}}"}"""))["user"]!;
        var b = (string)Convert(Request("""[{"role":"user","content":"hi"}]""", $$$""","metadata":{"user_id":"{{{id}}}"}"""))["user"]!;

        Assert.That(a, Has.Length.EqualTo(64));
        Assert.That(a, Is.EqualTo(b));
    }

    [TestCase("""{"type":"enabled","budget_tokens":1024}""", "", "low")]
    [TestCase("""{"type":"enabled","budget_tokens":4096}""", "", "medium")]
    [TestCase("""{"type":"enabled","budget_tokens":8192}""", "", "medium")]
    [TestCase("""{"type":"enabled","budget_tokens":16000}""", "", "high")]
    [TestCase("""{"type":"adaptive"}""", ""","output_config":{"effort":"low"}""", "low")]
    [TestCase("""{"type":"adaptive"}""", ""","output_config":{"effort":"medium"}""", "medium")]
    [TestCase("""{"type":"adaptive"}""", ""","output_config":{"effort":"high"}""", "high")]
    [TestCase("""{"type":"adaptive","display":"omitted"}""", ""","output_config":{"effort":"xhigh"}""", "high")]
    [TestCase("""{"type":"adaptive"}""", ""","output_config":{"effort":"max"}""", "high")]
    [TestCase("""{"type":"adaptive"}""", "", null)]
    [TestCase("""{"type":"disabled"}""", ""","output_config":{"effort":"high"}""", null)]
    public void Thinking_ReasoningEffort(string thinking, string extra, string? effort)
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", $""","thinking":{thinking}{extra}"""));

        Assert.That((string?)converted["reasoning_effort"], Is.EqualTo(effort));
        Assert.That(converted.ContainsKey("thinking"), Is.False);
        Assert.That(converted.ContainsKey("output_config"), Is.False);
    }

    [TestCase(""","output_config":{"format":{"type":"json_schema","schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}}""")]
    [TestCase(""","output_format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}}""")]
    public void OutputFormat_ResponseFormatJsonSchema(string extra)
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", extra));

        Assert.That(Json(converted["response_format"]), Is.EqualTo("""{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false},"strict":true}}"""));
    }

    [Test]
    public void UnknownAndAnthropicOnlyFields_NeverForwarded()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""",
            ""","context_management":{"edits":[]},"container":"c","mcp_servers":[],"service_tier":"auto","some_future_field":1,"cache_control":{"type":"ephemeral"},"top_k":3"""));

        Assert.That(converted.Select(p => p.Key), Is.EqualTo(new[] { "model", "messages", "max_tokens" }));
    }

    [TestCase("", "empty")]
    [TestCase("{", "malformed JSON")]
    [TestCase("""{"model":"x"} x""", "malformed JSON")]
    [TestCase("[]", "JSON object")]
    [TestCase("""{"model":"x","max_tokens":1}""", "messages: field required")]
    [TestCase("""{"model":"x","messages":{}}""", "messages: field required")]
    [TestCase("""{"model":"x","messages":[{"role":"tool","content":"x"}]}""", "messages.0.role")]
    [TestCase("""{"model":"x","messages":[{"role":"user"}]}""", "messages.0.content")]
    public void BadRequest_FailureWithReason(string json, string error)
    {
        var result = ChatUpstream.ConvertRequest(Encoding.UTF8.GetBytes(json), Options);

        Assert.That(result.Refusal(), Does.Contain(error));
    }

    // ---- System --------------------------------------------------------------------------------------

    [Test]
    public void Case34_SystemBlocks_OneMessageJoinedWithBlankLine_CacheControlDropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", ""","system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral","ttl":"1h"}}]"""));

        Assert.That(Json(converted["messages"]![0]), Is.EqualTo("""{"role":"system","content":"A\n\nB"}"""));
    }

    [TestCase(true, "Real prompt")]
    [TestCase(false, "x-anthropic-billing-header: cc_version=1;\n\nReal prompt")]
    public void AttributionBlock_DroppedOnlyWhenAsked(bool strip, string expected)
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", ""","system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=1;"},{"type":"text","text":"Real prompt"}]"""), Options with { StripClaudeCodeAttribution = strip });

        Assert.That((string)converted["messages"]![0]!["content"]!, Is.EqualTo(expected));
    }

    [Test]
    public void SystemString_FirstMessage()
    {
        Assert.That(Json(Convert(Request("""[{"role":"user","content":"hi"}]""", ""","system":"Be brief." """.TrimEnd()))["messages"]![0]), Is.EqualTo("""{"role":"system","content":"Be brief."}"""));
    }

    [Test]
    public void MidConversationSystemMessage_KeptInPosition()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"system","content":[{"type":"text","text":"Mode changed."}]},{"role":"user","content":"go"}]"""));

        Assert.That(converted["messages"]!.AsArray().Select(m => (string)m!["role"]!), Is.EqualTo(new[] { "user", "assistant", "system", "user" }));
        Assert.That((string)converted["messages"]![2]!["content"]!, Is.EqualTo("Mode changed."));
    }

    // ---- User content --------------------------------------------------------------------------------

    [Test]
    public void UserTextBlocks_OneStringJoined_EmptyTextSkipped()
    {
        var converted = Convert(Request("""[{"role":"user","content":[{"type":"text","text":"<system-reminder>x</system-reminder>"},{"type":"text","text":""},{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]}]"""));

        Assert.That(Json(converted["messages"]![0]), Is.EqualTo("""{"role":"user","content":"<system-reminder>x</system-reminder>\n\nhello"}"""));
    }

    [Test]
    public void UserImagesAndDocuments_ContentParts()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":[
              {"type":"text","text":"Look"},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},
              {"type":"image","source":{"type":"url","url":"https://example.com/a.jpg"}},
              {"type":"document","title":"spec.pdf","source":{"type":"base64","media_type":"application/pdf","data":"JVBER"}},
              {"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain doc"}}]}]
            """));

        Assert.That(Json(converted["messages"]![0]!["content"]), Is.EqualTo(
            """[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}},{"type":"image_url","image_url":{"url":"https://example.com/a.jpg"}},{"type":"file","file":{"filename":"spec.pdf","file_data":"data:application/pdf;base64,JVBER"}},{"type":"text","text":"plain doc"}]"""));
    }

    [Test]
    public void Case07_Case11_ToolResultsFirst_OneToolMessageEach_IdFromToolUseId()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":"run both"},
             {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"A","input":{}},{"type":"tool_use","id":"toolu_2","name":"B","input":{"x":1}}]},
             {"role":"user","content":[{"type":"text","text":"and then?"},{"type":"tool_result","tool_use_id":"toolu_1","content":"one"},{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"two"},{"type":"text","text":"lines"}]}]}]
            """));

        var messages = converted["messages"]!.AsArray();
        Assert.That(messages.Select(m => (string)m!["role"]!), Is.EqualTo(new[] { "user", "assistant", "tool", "tool", "user" }));
        Assert.That(Json(messages[2]), Is.EqualTo("""{"role":"tool","tool_call_id":"toolu_1","content":"one"}"""));
        Assert.That(Json(messages[3]), Is.EqualTo("""{"role":"tool","tool_call_id":"toolu_2","content":"two\nlines"}"""));
        Assert.That(Json(messages[4]), Is.EqualTo("""{"role":"user","content":"and then?"}"""));
    }

    [Test]
    public void Case27_ToolResultWithImageAndIsError_ImageMovedToUserMessage_ErrorPrefixed()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":"shot"},
             {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Screenshot","input":{}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":[{"type":"text","text":"partial"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]}]}]
            """));

        var messages = converted["messages"]!.AsArray();
        Assert.That(Json(messages[2]), Is.EqualTo("""{"role":"tool","tool_call_id":"toolu_1","content":"[tool error] partial\n[image attached in the next user message]"}"""));
        Assert.That(Json(messages[3]), Is.EqualTo("""{"role":"user","content":[{"type":"text","text":"[image from tool result toolu_1]"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/"}}]}"""));
    }

    [TestCase("""{"type":"tool_result","tool_use_id":"toolu_1"}""", "")]
    [TestCase("""{"type":"tool_result","tool_use_id":"toolu_1","content":[]}""", "")]
    [TestCase("""{"type":"tool_result","tool_use_id":"toolu_1","is_error":true,"content":"boom"}""", "[tool error] boom")]
    [TestCase("""{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"tool_reference","tool_name":"CronCreate"},{"type":"tool_reference","tool_name":"TaskGet"}]}""", "[tool reference: CronCreate]\n[tool reference: TaskGet]")]
    [TestCase("""{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc text"}}]}""", "doc text")]
    public void ToolResultContent_Text(string block, string expected)
    {
        var converted = Convert(Request($$$"""[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"ToolSearch","input":{"query":"select:CronCreate"}}]},{"role":"user","content":[{{{block}}}]}]"""));

        Assert.That((string)converted["messages"]![2]!["content"]!, Is.EqualTo(expected));
        Assert.That(converted["messages"]!.AsArray(), Has.Count.EqualTo(3), "no empty user message after the tool message");
    }

    // ---- Assistant content ---------------------------------------------------------------------------

    [Test]
    public void Case09_Case10_AssistantOnlyToolUse_ContentNullNeverEmpty_TurnKept()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":"list"},
             {"role":"assistant","content":[{"type":"text","text":""},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls -la"},"cache_control":{"type":"ephemeral"}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"a b"}]}]
            """));

        Assert.That(Json(converted["messages"]![1]), Is.EqualTo("""{"role":"assistant","content":null,"tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"Bash","arguments":"{\"command\":\"ls -la\"}"}}]}"""));
        Assert.That((string)converted["messages"]![2]!["tool_call_id"]!, Is.EqualTo("toolu_1"));
    }

    [Test]
    public void AssistantTextAndTools_TextJoined()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":"q"},
             {"role":"assistant","content":[{"type":"text","text":"First."},{"type":"tool_use","id":"t1","name":"A","input":{}},{"type":"text","text":"Second."}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}]
            """));

        Assert.That((string)converted["messages"]![1]!["content"]!, Is.EqualTo("First.\n\nSecond."));
        Assert.That((string)converted["messages"]![1]!["tool_calls"]![0]!["function"]!["arguments"]!, Is.EqualTo("{}"));
    }

    [Test]
    public void Case08_ToolIdsWithColonAndDot_SanitisedTheSameOnBothSides()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":"q"},
             {"role":"assistant","content":[{"type":"tool_use","id":"functions.Bash:0","name":"Bash","input":{}},{"type":"tool_use","id":"functions_Bash_0","name":"Bash","input":{}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"functions.Bash:0","content":"x"},{"type":"tool_result","tool_use_id":"functions_Bash_0","content":"y"}]}]
            """));

        var messages = converted["messages"]!.AsArray();
        var callIds = messages[1]!["tool_calls"]!.AsArray().Select(c => (string)c!["id"]!).ToArray();
        Assert.That(callIds, Has.All.Match("^[a-zA-Z0-9_-]+$"));
        Assert.That(callIds, Is.Unique, "a:b and a_b must not collide");
        Assert.That(new[] { (string)messages[2]!["tool_call_id"]!, (string)messages[3]!["tool_call_id"]! }, Is.EqualTo(callIds));
    }

    [Test]
    public void Case12_PassBackReasoning_ReasoningContentOnToolCallTurns()
    {
        var request = Request("""
            [{"role":"user","content":"q"},
             {"role":"assistant","content":[{"type":"thinking","thinking":"I should run ls.","signature":"ccx-proxy.reasoning.v1"},{"type":"redacted_thinking","data":"EncryptedBlob"},{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a"}]}]
            """);

        var passed = Convert(request, Options with { PassBackReasoning = true })["messages"]![1]!;
        var dropped = Convert(request)["messages"]![1]!;

        Assert.That((string)passed["reasoning_content"]!, Is.EqualTo("I should run ls."));
        Assert.That(passed.ToJsonString(), Does.Not.Contain("EncryptedBlob"));
        Assert.That(dropped.AsObject().ContainsKey("reasoning_content"), Is.False);
    }

    [Test]
    public void Case29_FinalAssistantPrefill_Dropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"Say a JSON"},{"role":"assistant","content":"{"}]"""));

        Assert.That(converted["messages"]!.AsArray().Select(m => (string)m!["role"]!), Is.EqualTo(new[] { "user" }));
    }

    [Test]
    public void AssistantWithOnlyThinking_Dropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"}]},{"role":"user","content":"b"}]"""), Options with { PassBackReasoning = true });

        Assert.That(converted["messages"]!.AsArray().Select(m => (string)m!["role"]!), Is.EqualTo(new[] { "user", "user" }));
    }

    // ---- Tools ---------------------------------------------------------------------------------------

    [Test]
    public void Case31_Tools_FunctionShape_TypeNotMergedIntoParameters_SchemaMetaDropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", """
            ,"tools":[{"type":"custom","name":"Get","description":"Gets.","input_schema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"$schema":{"type":"string"}},"required":[]},"cache_control":{"type":"ephemeral"},"defer_loading":true}]
            """));

        Assert.That(Json(converted["tools"]), Is.EqualTo("""[{"type":"function","function":{"name":"Get","description":"Gets.","parameters":{"type":"object","properties":{"$schema":{"type":"string"}},"required":[]}}}]"""));
    }

    [Test]
    public void Case31_LongToolName_ShortenedAndMapKnowsTheWayBack()
    {
        var longName = "mcp__server__" + new string('a', 80);
        var result = ChatUpstream.ConvertRequest(Encoding.UTF8.GetBytes(Request(
            $$$"""[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"{{{longName}}}","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"x"}]}]""",
            $$$""","tools":[{"name":"{{{longName}}}","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"{{{longName}}}"}""")), Options);
        var converted = JsonNode.Parse(result.Value().Body)!;

        var upstreamName = (string)converted["tools"]![0]!["function"]!["name"]!;
        Assert.That(upstreamName, Has.Length.EqualTo(64));
        Assert.That((string)converted["messages"]![1]!["tool_calls"]![0]!["function"]!["name"]!, Is.EqualTo(upstreamName));
        Assert.That((string)converted["tool_choice"]!["function"]!["name"]!, Is.EqualTo(upstreamName));
        Assert.That(result.Value().ToolNames.ToClient(upstreamName), Is.EqualTo(longName));
    }

    [Test]
    public void ServerTools_Dropped_ToolWithoutSchema_GetsEmptyObjectSchema()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", """
            ,"tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"type":"bash_20250124","name":"bash"},{"name":"Plain"}]
            """));

        Assert.That(Json(converted["tools"]), Is.EqualTo("""[{"type":"function","function":{"name":"Plain","parameters":{"type":"object","properties":{}}}}]"""));
    }

    [TestCase("""{"type":"auto"}""", "\"auto\"", null)]
    [TestCase("""{"type":"any"}""", "\"required\"", null)]
    [TestCase("""{"type":"none"}""", "\"none\"", null)]
    [TestCase("""{"type":"tool","name":"Get"}""", """{"type":"function","function":{"name":"Get"}}""", null)]
    [TestCase("""{"type":"auto","disable_parallel_tool_use":true}""", "\"auto\"", "false")]
    [TestCase("""{"type":"any","disable_parallel_tool_use":false}""", "\"required\"", null)]
    public void ToolChoice_Mapped(string choice, string expected, string? parallel)
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", $$$""","tools":[{"name":"Get","input_schema":{"type":"object"}}],"tool_choice":{{{choice}}}"""));

        Assert.That(Json(converted["tool_choice"]), Is.EqualTo(expected));
        Assert.That(converted["parallel_tool_calls"]?.ToJsonString(), Is.EqualTo(parallel));
    }

    [Test]
    public void Case30_NoToolsLeft_ToolChoiceAndParallelDropped()
    {
        var converted = Convert(Request("""[{"role":"user","content":"hi"}]""", ""","tools":[{"type":"web_search_20250305","name":"web_search"}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}"""));

        Assert.That(converted.ContainsKey("tools"), Is.False);
        Assert.That(converted.ContainsKey("tool_choice"), Is.False);
        Assert.That(converted.ContainsKey("parallel_tool_calls"), Is.False);
    }

    [Test]
    public void Case28_CacheControl_NowhereInOutput()
    {
        var converted = Convert(Request("""
            [{"role":"user","content":[{"type":"text","text":"a","cache_control":{"type":"ephemeral"}}]},
             {"role":"assistant","content":[{"type":"text","text":"b","cache_control":{"type":"ephemeral","ttl":"1h"}}]},
             {"role":"user","content":[{"type":"text","text":"c","cache_control":{"type":"ephemeral"}}]}]
            """, ""","system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"tools":[{"name":"T","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]"""));

        Assert.That(converted.ToJsonString(), Does.Not.Contain("cache_control"));
    }

    [Test]
    public void CjkAndEmoji_CjkKeptAsUtf8_EmojiRoundTrips()
    {
        var result = ChatUpstream.ConvertRequest(Encoding.UTF8.GetBytes(Request("""[{"role":"user","content":"你好 👋"}]""")), Options);

        // System.Text.Json escapes characters outside the BMP (\uD83D\uDC4B) even with the relaxed encoder: valid JSON.
        Assert.That(Encoding.UTF8.GetString(result.Value().Body), Does.Contain("你好"));
        Assert.That((string)JsonNode.Parse(result.Value().Body)!["messages"]![0]!["content"]!, Is.EqualTo("你好 👋"));
    }

    // ---- count_tokens estimate -----------------------------------------------------------------------

    [Test]
    public void EstimateInputTokens_BytesOverFour_AtLeastOne()
    {
        Assert.That(ChatUpstream.EstimateInputTokens("""{"model":"m","messages":[{"role":"user","content":"12345678"}]}"""u8), Is.EqualTo(2));
        Assert.That(ChatUpstream.EstimateInputTokens("""{"model":"m","messages":[]}"""u8), Is.EqualTo(1));
        Assert.That(ChatUpstream.EstimateInputTokens("""{"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"u"}}]}]}"""u8), Is.EqualTo(1600));
        Assert.That(ChatUpstream.TryEstimateInputTokens("nope"u8, out _), Is.False);
        Assert.Throws<FormatException>(() => ChatUpstream.EstimateInputTokens("[1]"u8));
    }

    [Test]
    public void EstimateInputTokens_ClaudeCodeRequest_Plausible()
    {
        var body = RecordedRequests.ClaudeCodeFirstTurnBody("2.1.197");
        var estimate = ChatUpstream.EstimateInputTokens(body);

        // The request is ~100 kB, mostly prompt and tool schemas: tens of thousands of tokens.
        Assert.That(estimate, Is.InRange(body.Length / 8, body.Length / 3));
    }
}
