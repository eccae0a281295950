using System.Text.Json.Nodes;
using System.Text;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Conversion;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

[TestFixture]
public sealed class ChatClientRequestTests
{
    private static readonly ConversionOptions Options = new() { UpstreamModel = "claude-sonnet-4-5" };

    private static JsonObject Convert(string json, ConversionOptions? options = null)
    {
        var result = ChatClient.ConvertRequest(Encoding.UTF8.GetBytes(json), options ?? Options);
        return JsonNode.Parse(result.Value().Body)!.AsObject();
    }

    private static string Refused(string json, ConversionOptions? options = null)
    {
        var result = ChatClient.ConvertRequest(Encoding.UTF8.GetBytes(json), options ?? Options);
        return result.Refusal();
    }

    private static string Compact(JsonNode? node) => node?.ToJsonString() ?? "null";

    private const string Hi = """{"role":"user","content":"hi"}""";

    /// <summary>A one-message request plus <paramref name="fields"/> (comma-separated JSON members).</summary>
    private static string Req(string fields) => """{"model":"m","messages":[""" + Hi + "]" + (fields.Length > 0 ? "," + fields : string.Empty) + "}";

    [Test]
    public void Model_IsTheUpstreamModel_AndMaxTokensDefaultsTo4096()
    {
        var body = Convert("""{"model":"gpt-4o","messages":[""" + Hi + "]}");

        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-5"));
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(4096));
        Assert.That(Compact(body["messages"]), Is.EqualTo("""[{"role":"user","content":[{"type":"text","text":"hi"}]}]"""));
        Assert.That(body.ContainsKey("stream"), Is.False);
    }

    [TestCase("\"max_tokens\":100", null, 100)]
    [TestCase("\"max_completion_tokens\":200", null, 200)]
    [TestCase("\"max_tokens\":100,\"max_completion_tokens\":200", null, 200)]
    [TestCase("\"max_tokens\":100000", 8192, 8192)]
    [TestCase("", 1000, 1000)]
    public void MaxTokens_IsTakenAndClampedToTheChannelLimit(string field, int? limit, long expected)
    {
        var body = Convert(Req(field), Options with { MaxTokensLimit = limit });

        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(expected));
    }

    [Test]
    public void SystemAndDeveloperMessages_Anywhere_BecomeSystemBlocksInOrder()
    {
        var body = Convert("""
            {"model":"m","messages":[
              {"role":"system","content":"one"},
              {"role":"developer","content":[{"type":"text","text":"two"},{"type":"text","text":""}]},
              {"role":"user","content":"hi"},
              {"role":"system","content":"three"},
              {"role":"assistant","content":"ok"}]}
            """);

        Assert.That(Compact(body["system"]), Is.EqualTo("""[{"type":"text","text":"one"},{"type":"text","text":"two"},{"type":"text","text":"three"}]"""));
        Assert.That(body["messages"]!.AsArray().Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant" }));
    }

    [Test]
    public void SystemTextPart_KeepsCacheControl()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]},{"role":"user","content":"hi"}]}""");

        Assert.That(Compact(body["system"]), Is.EqualTo("""[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}]"""));
    }

    [Test]
    public void UserParts_TextImagesAndPdf_MapToAnthropicBlocks()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"text","text":"look"},
              {"type":"text","text":""},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"high"}},
              {"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0x"}},
              {"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}
            """);

        Assert.That(Compact(body["messages"]![0]!["content"]), Is.EqualTo(
            """[{"type":"text","text":"look"},""" +
            """{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},""" +
            """{"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},""" +
            """{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}}]"""));
    }

    [TestCase("""{"type":"image_url","image_url":{"url":"data:image/png,notbase64"}}""", "base64")]
    [TestCase("""{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}""", "http(s) URL or a data: URL")]
    [TestCase("""{"type":"file","file":{"file_id":"file-abc"}}""", "file_id")]
    public void UserParts_Unusable_AreRefusedWithTheirPath(string part, string expected)
    {
        var error = Refused("""{"model":"m","messages":[{"role":"user","content":[""" + part + "]}]}");

        Assert.That(error, Does.Contain(expected).And.Contain("messages[0].content[0]"));
    }

    [Test]
    public void AssistantToolCalls_BecomeTextThenToolUse_WithParsedInput()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"weather?"},
              {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"sunny"}]}
            """);

        Assert.That(Compact(body["messages"]![1]), Is.EqualTo(
            """{"role":"assistant","content":[{"type":"text","text":"Checking."},{"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}}]}"""));
        Assert.That(Compact(body["messages"]![2]), Is.EqualTo(
            """{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"sunny"}]}]}"""));
    }

    [TestCase("", "{}")]
    [TestCase("   ", "{}")]
    [TestCase("{\\\"a\\\":1}", """{"a":1}""")]
    [TestCase("{not json", """{"raw_arguments":"{not json"}""")]
    [TestCase("[1,2]", """{"raw_arguments":"[1,2]"}""")]
    public void ToolArguments_EmptyOrInvalid_StillGiveAnObjectInput(string arguments, string expectedInput)
    {
        var body = Convert($$$"""
            {"model":"m","messages":[{"role":"user","content":"x"},
              {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{{{arguments}}}"}}]},
              {"role":"tool","tool_call_id":"c","content":"r"}]}
            """);

        Assert.That(Compact(body["messages"]![1]!["content"]![0]!["input"]), Is.EqualTo(expectedInput));
    }

    [Test]
    public void Case09_EmptyAssistantContentNextToToolCalls_SendsNoEmptyTextBlock()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"x"},
              {"role":"assistant","content":"","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c","content":""},
              {"role":"user","content":[{"type":"text","text":""},{"type":"text","text":"go on"}]}]}
            """);

        var text = body.ToJsonString();
        Assert.That(text, Does.Not.Contain("\"text\":\"\""));
        Assert.That(Compact(body["messages"]![1]!["content"]), Is.EqualTo("""[{"type":"tool_use","id":"c","name":"f","input":{}}]"""));
        Assert.That(Compact(body["messages"]![2]!["content"]![0]), Is.EqualTo("""{"type":"tool_result","tool_use_id":"c"}"""));
    }

    [Test]
    public void Case10_AssistantTurnWithOnlyToolCalls_IsKept_AndItsResultFollowsIt()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"x"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c","content":"done"}]}
            """);

        var messages = body["messages"]!.AsArray();
        Assert.That(messages, Has.Count.EqualTo(3));
        Assert.That(messages[1]!["content"]![0]!["type"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(messages[2]!["content"]![0]!["tool_use_id"]!.GetValue<string>(), Is.EqualTo("c"));
    }

    [Test]
    public void Case07_ConsecutiveToolMessages_BecomeOneUserTurn_AndAFollowingUserTextComesAfterTheResults()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"x"},
              {"role":"assistant","tool_calls":[
                {"id":"a","type":"function","function":{"name":"f","arguments":"{}"}},
                {"id":"b","type":"function","function":{"name":"f","arguments":"{}"}},
                {"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"a","content":"1"},
              {"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"2"}]},
              {"role":"tool","tool_call_id":"c","content":"3"},
              {"role":"user","content":"thanks"}]}
            """);

        var messages = body["messages"]!.AsArray();
        Assert.That(messages, Has.Count.EqualTo(3));
        var content = messages[2]!["content"]!.AsArray();
        Assert.That(content.Select(b => b!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "tool_result", "tool_result", "tool_result", "text" }));
        Assert.That(content.Take(3).Select(b => b!["tool_use_id"]!.GetValue<string>()), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public void Case11_ToolResultId_IsTheToolCallId_AndAMissingOneIsRefused()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"call_9","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","id":"wrong","tool_call_id":"call_9","content":"r"}]}""");
        Assert.That(body["messages"]![2]!["content"]![0]!["tool_use_id"]!.GetValue<string>(), Is.EqualTo("call_9"));

        var error = Refused("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","content":"r"}]}""");
        Assert.That(error, Does.Contain("messages[1].tool_call_id"));
    }

    [Test]
    public void Case08_ToolIdsWithColonsAndDots_AreSanitisedTheSameOnBothSides()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"x"},
              {"role":"assistant","tool_calls":[{"id":"functions.Bash:0","type":"function","function":{"name":"Bash","arguments":"{}"}},
                                               {"id":"functions_Bash_0","type":"function","function":{"name":"Bash","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"functions.Bash:0","content":"r"},
              {"role":"tool","tool_call_id":"functions_Bash_0","content":"s"}]}
            """);

        var useId = body["messages"]![1]!["content"]![0]!["id"]!.GetValue<string>();
        var resultId = body["messages"]![2]!["content"]![0]!["tool_use_id"]!.GetValue<string>();
        Assert.That(useId, Does.Match("^[a-zA-Z0-9_-]+$"));
        Assert.That(resultId, Is.EqualTo(useId));
        Assert.That(useId, Is.Not.EqualTo("functions_Bash_0"), "a sanitised id must not collide with a valid one");
        Assert.That(body["messages"]![1]!["content"]![1]!["id"]!.GetValue<string>(), Is.EqualTo("functions_Bash_0"));
    }

    [Test]
    public void ReasoningContent_OnAssistantMessages_IsDropped()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y","reasoning_content":"secret thoughts"},{"role":"user","content":"z"}]}""");

        Assert.That(body.ToJsonString(), Does.Not.Contain("thinking").And.Not.Contain("secret"));
    }

    [Test]
    public void ConsecutiveSameRoleMessages_AreMerged()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"},{"role":"assistant","content":"d"},{"role":"user","content":"e"}]}""");

        Assert.That(Compact(body["messages"]), Is.EqualTo(
            """[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},""" +
            """{"role":"assistant","content":[{"type":"text","text":"c"},{"type":"text","text":"d"}]},""" +
            """{"role":"user","content":[{"type":"text","text":"e"}]}]"""));
    }

    [Test]
    public void FirstMessageFromAssistant_GetsAMinimalUserTurnBefore()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"system","content":"s"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"hi"}]}""");

        Assert.That(Compact(body["messages"]![0]), Is.EqualTo("""{"role":"user","content":[{"type":"text","text":"..."}]}"""));
        Assert.That(body["messages"]![1]!["role"]!.GetValue<string>(), Is.EqualTo("assistant"));
    }

    [Test]
    public void Case29_FinalAssistantPrefill_LosesTrailingWhitespace()
    {
        var body = Convert("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":"The answer is \n "}]}""");

        Assert.That(body["messages"]![1]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("The answer is"));
    }

    [TestCase("\"stop\":\"END\"", """["END"]""")]
    [TestCase("\"stop\":[\"a\",\" \",\"b\"]", """["a","b"]""")]
    [TestCase("\"stop\":[]", null)]
    [TestCase("\"stop\":null", null)]
    public void Stop_BecomesStopSequences_WithoutWhitespaceOnlyEntries(string field, string? expected)
    {
        var body = Convert(Req(field));

        Assert.That(body["stop_sequences"]?.ToJsonString(), Is.EqualTo(expected));
    }

    [TestCase("\"temperature\":0.7", 0.7, null)]
    [TestCase("\"temperature\":1.8", 1.0, null)]
    [TestCase("\"temperature\":-1", 0.0, null)]
    [TestCase("\"top_p\":0.9", null, 0.9)]
    [TestCase("\"temperature\":0.5,\"top_p\":0.9", 0.5, null)]
    public void Case25_Sampling_TemperatureClampedAndNeverWithTopP(string fields, double? temperature, double? topP)
    {
        var body = Convert(Req(fields));

        Assert.That(body["temperature"]?.GetValue<double>(), Is.EqualTo(temperature));
        Assert.That(body["top_p"]?.GetValue<double>(), Is.EqualTo(topP));
    }

    [Test]
    public void Tools_BecomeInputSchemas_WithADefaultForMissingParameters()
    {
        var body = Convert("""
            {"model":"m","messages":[{"role":"user","content":"x"}],"tools":[
              {"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}},
              {"type":"function","function":{"name":"now"}}]}
            """);

        Assert.That(Compact(body["tools"]), Is.EqualTo(
            """[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},""" +
            """{"name":"now","input_schema":{"type":"object","properties":{}}}]"""));
        Assert.That(body.ContainsKey("tool_choice"), Is.False);
    }

    private const string OneTool = "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]";

    [TestCase("\"tool_choice\":\"auto\"", """{"type":"auto"}""")]
    [TestCase("\"tool_choice\":\"required\"", """{"type":"any"}""")]
    [TestCase("\"tool_choice\":\"none\"", """{"type":"none"}""")]
    [TestCase("\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"f\"}}", """{"type":"tool","name":"f"}""")]
    [TestCase("\"parallel_tool_calls\":false", """{"type":"auto","disable_parallel_tool_use":true}""")]
    [TestCase("\"tool_choice\":\"required\",\"parallel_tool_calls\":false", """{"type":"any","disable_parallel_tool_use":true}""")]
    [TestCase("\"tool_choice\":\"none\",\"parallel_tool_calls\":false", """{"type":"none"}""")]
    [TestCase("\"parallel_tool_calls\":true", null)]
    public void ToolChoice_MapsToAnthropicsChoices(string fields, string? expected)
    {
        var body = Convert(Req(OneTool + "," + fields));

        Assert.That(body["tool_choice"]?.ToJsonString(), Is.EqualTo(expected));
    }

    [Test]
    public void Case30_ToolChoiceWithoutTools_IsNotSent()
    {
        var body = Convert(Req("\"tools\":[],\"tool_choice\":\"required\",\"parallel_tool_calls\":false"));

        Assert.That(body.ContainsKey("tool_choice"), Is.False);
        Assert.That(body.ContainsKey("tools"), Is.False);
    }

    [Test]
    public void NonFunctionTools_AreRefused() =>
        Assert.That(Refused(Req("\"tools\":[{\"type\":\"custom\",\"custom\":{\"name\":\"x\"}}]")), Does.Contain("tools[0].type"));

    [TestCase("minimal", 1024, 4096)]
    [TestCase("low", 1024, 4096)]
    [TestCase("medium", 4096, 8192)]
    [TestCase("high", 16384, 20480)]
    public void ReasoningEffort_BecomesAThinkingBudget_BelowMaxTokens(string effort, int budget, int maxTokens)
    {
        var body = Convert(Req("\"reasoning_effort\":\"" + effort + "\",\"temperature\":0.2,\"top_p\":0.5"));

        Assert.That(Compact(body["thinking"]), Is.EqualTo("""{"type":"enabled","budget_tokens":""" + budget + "}"));
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(maxTokens));
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.GreaterThan(budget));
        Assert.That(body.ContainsKey("temperature") || body.ContainsKey("top_p"), Is.False, "Anthropic rejects changed sampling with thinking");
    }

    [Test]
    public void ReasoningEffort_ClientMaxTokensBelowTheBudget_IsRaisedByTheBudget()
    {
        var body = Convert(Req("\"reasoning_effort\":\"medium\",\"max_tokens\":500"));

        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(4596));
        Assert.That(body["thinking"]!["budget_tokens"]!.GetValue<long>(), Is.EqualTo(4096));
    }

    [Test]
    public void ReasoningEffort_UnderATightChannelLimit_ShrinksTheBudgetOrDropsThinking()
    {
        var fits = Convert(Req("\"reasoning_effort\":\"high\""), Options with { MaxTokensLimit = 8192 });
        Assert.That(fits["max_tokens"]!.GetValue<long>(), Is.EqualTo(8192));
        Assert.That(fits["thinking"]!["budget_tokens"]!.GetValue<long>(), Is.EqualTo(8191));

        var tooSmall = Convert(Req("\"reasoning_effort\":\"low\""), Options with { MaxTokensLimit = 1000 });
        Assert.That(tooSmall.ContainsKey("thinking"), Is.False);
        Assert.That(tooSmall["max_tokens"]!.GetValue<long>(), Is.EqualTo(1000));
    }

    [Test]
    public void ReasoningEffortNone_DisablesThinking()
    {
        var body = Convert(Req("\"reasoning_effort\":\"none\",\"temperature\":0.3"));

        Assert.That(Compact(body["thinking"]), Is.EqualTo("""{"type":"disabled"}"""));
        Assert.That(body["temperature"]!.GetValue<double>(), Is.EqualTo(0.3));
    }

    [Test]
    public void ReasoningEffort_WithForcedToolUseOrInsideAToolLoop_DropsThinking()
    {
        var forced = Convert(Req(OneTool + ",\"tool_choice\":\"required\",\"reasoning_effort\":\"high\""));
        Assert.That(forced.ContainsKey("thinking"), Is.False);
        Assert.That(forced["tool_choice"]!["type"]!.GetValue<string>(), Is.EqualTo("any"));

        var loop = Convert($$$"""
            {"model":"m",{{{OneTool}}},"reasoning_effort":"high","messages":[{"role":"user","content":"x"},
              {"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c","content":"r"}]}
            """);
        Assert.That(loop.ContainsKey("thinking"), Is.False);
    }

    [Test]
    public void UnknownReasoningEffort_IsRefused() =>
        Assert.That(Refused(Req("\"reasoning_effort\":\"ultra\"")), Does.Contain("reasoning_effort"));

    [Test]
    public void User_BecomesMetadataUserId()
    {
        var body = Convert(Req("\"user\":\"u-42\""));

        Assert.That(Compact(body["metadata"]), Is.EqualTo("""{"user_id":"u-42"}"""));
    }

    [Test]
    public void ResponseFormatJsonSchema_BecomesOutputConfigFormat()
    {
        var body = Convert(Req("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"strict\":true,\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}}}"));

        Assert.That(Compact(body["output_config"]), Is.EqualTo("""{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}"""));
    }

    [Test]
    public void ResponseFormatJsonObject_AddsASystemInstruction()
    {
        var body = Convert(Req("\"response_format\":{\"type\":\"json_object\"}"));

        Assert.That(body["system"]![0]!["text"]!.GetValue<string>(), Does.Contain("JSON object"));
        Assert.That(body.ContainsKey("output_config"), Is.False);
    }

    [Test]
    public void Stream_IsForwarded_AndReported()
    {
        var result = ChatClient.ConvertRequest(Encoding.UTF8.GetBytes(Req("\"stream\":true,\"stream_options\":{\"include_usage\":true}")), Options);

        Assert.That(result.Value().Stream, Is.True);
        var body = JsonNode.Parse(result.Value().Body)!;
        Assert.That(body["stream"]!.GetValue<bool>(), Is.True);
        Assert.That(body.AsObject().ContainsKey("stream_options"), Is.False);
    }

    [TestCase("""{"stream_options":{"include_usage":true}}""", true)]
    [TestCase("""{"stream_options":{"include_usage":false}}""", false)]
    [TestCase("""{}""", false)]
    [TestCase("""nope""", false)]
    public void WantsStreamUsage_ReadsStreamOptions(string body, bool expected) =>
        Assert.That(ChatClient.WantsStreamUsage(Encoding.UTF8.GetBytes(body)), Is.EqualTo(expected));

    [Test]
    public void UnknownAndUnsupportedFields_AreDropped_LogprobsIncluded()
    {
        var body = Convert(Req("\"logprobs\":true,\"top_logprobs\":3,\"seed\":1,\"frequency_penalty\":0.5,\"presence_penalty\":0.1,\"logit_bias\":{\"1\":2},\"store\":true,\"metadata\":{\"a\":\"b\"},\"service_tier\":\"auto\",\"n\":1"));

        Assert.That(body.Select(p => p.Key), Is.EquivalentTo(new[] { "model", "max_tokens", "messages" }));
    }

    [TestCase("""{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}""", "n > 1 is not supported: Anthropic returns one choice")]
    [TestCase("""{"model":"m"}""", "messages: field required")]
    [TestCase("""{"model":"m","messages":"hi"}""", "messages: field required")]
    [TestCase("""{"model":"m","messages":[]}""", "at least one user or assistant message")]
    [TestCase("""{"model":"m","messages":[{"role":"system","content":"only system"}]}""", "at least one user or assistant message")]
    [TestCase("""{"model":"m","messages":[{"content":"x"}]}""", "messages[0].role")]
    [TestCase("""{"model":"m","messages":[{"role":"wizard","content":"x"}]}""", "unknown role 'wizard'")]
    [TestCase("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens: must be a positive integer")]
    [TestCase("""{"model":"m","messages":[""", "malformed JSON")]
    [TestCase("", "malformed JSON")]
    [TestCase("[1]", "must be a JSON object")]
    public void BadRequests_AreRefusedClearly(string body, string expected) =>
        Assert.That(Refused(body), Does.Contain(expected));

    [Test]
    public void LegacyFunctions_AndFunctionMessages_MapLikeTools()
    {
        var body = Convert("""
            {"model":"m","functions":[{"name":"f","parameters":{"type":"object"}}],"function_call":{"name":"f"},"messages":[
              {"role":"user","content":"x"},
              {"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{\"q\":1}"}},
              {"role":"function","name":"f","content":"result"}]}
            """);

        Assert.That(Compact(body["tools"]), Is.EqualTo("""[{"name":"f","input_schema":{"type":"object"}}]"""));
        Assert.That(Compact(body["tool_choice"]), Is.EqualTo("""{"type":"tool","name":"f"}"""));
        var use = body["messages"]![1]!["content"]![0]!;
        var result = body["messages"]![2]!["content"]![0]!;
        Assert.That(use["input"]!.ToJsonString(), Is.EqualTo("""{"q":1}"""));
        Assert.That(result["tool_use_id"]!.GetValue<string>(), Is.EqualTo(use["id"]!.GetValue<string>()));
    }

    [Test]
    public void NonAsciiText_IsWrittenAsUtf8NotEscaped()
    {
        var result = ChatClient.ConvertRequest(Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"日本語 😀 \"q\""}]}"""), Options);

        Assert.That(Encoding.UTF8.GetString(result.Value().Body), Does.Contain("日本語"));
    }
}
