using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

/// <summary>docs/protocols.md §2.1–2.3: a non-streamed chat.completion → an Anthropic message.</summary>
[TestFixture]
public sealed class ChatUpstreamResponseTests
{
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string Json(JsonNode? node) => node?.ToJsonString(Relaxed) ?? "null";

    public static string Completion(string message, string? finish = "stop", string usage = """{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}""", string extraChoice = "") =>
        """{"id":"chatcmpl-9","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[{"index":0,"message":""" + message
        + ""","logprobs":null,"finish_reason":""" + (finish is null ? "null" : JsonSerializer.Serialize(finish)) + extraChoice + """}],"usage":""" + usage + "}";

    private static JsonObject Convert(string completion, ToolNameMap? names = null) =>
        JsonNode.Parse(ChatUpstream.ConvertResponse(Encoding.UTF8.GetBytes(completion), "claude-sonnet-4-6", names ?? ToolNameMap.Identity, "msg_fixed"))!.AsObject();

    [Test]
    public void PlainText_FullMessage()
    {
        var message = Convert(Completion("""{"role":"assistant","content":"Hello!"}"""));

        Assert.That(Json(message), Is.EqualTo("""{"id":"msg_fixed","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}"""));
    }

    [Test]
    public void NoMessageId_RandomMsgId()
    {
        var a = JsonNode.Parse(ChatUpstream.ConvertResponse(Encoding.UTF8.GetBytes(Completion("""{"role":"assistant","content":"x"}""")), "m", ToolNameMap.Identity))!;
        var b = JsonNode.Parse(ChatUpstream.ConvertResponse(Encoding.UTF8.GetBytes(Completion("""{"role":"assistant","content":"x"}""")), "m", ToolNameMap.Identity))!;

        Assert.That((string)a["id"]!, Does.Match("^msg_[A-Za-z0-9]{24}$"));
        Assert.That((string)a["id"]!, Is.Not.EqualTo((string)b["id"]!));
    }

    [Test]
    public void Case34_ThinkingTextTools_InThatOrder_OneTextBlock()
    {
        var message = Convert(Completion("""
            {"role":"assistant","content":"I'll check both.","reasoning_content":"Two files.","tool_calls":[
              {"id":"call_1","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a\"}"}},
              {"id":"call_2","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"b\"}"}}]}
            """, "tool_calls"));

        Assert.That(Json(message["content"]), Is.EqualTo("""[{"type":"thinking","thinking":"Two files.","signature":""" + "\"" + GatewayThinking.Signature + "\"" + """},{"type":"text","text":"I'll check both."},{"type":"tool_use","id":"call_1","name":"Read","input":{"file_path":"a"}},{"type":"tool_use","id":"call_2","name":"Read","input":{"file_path":"b"}}]"""));
        Assert.That((string)message["stop_reason"]!, Is.EqualTo("tool_use"));
    }

    [Test]
    public void OpenRouterReasoning_ThinkingBlock()
    {
        var message = Convert(Completion("""{"role":"assistant","content":"4","reasoning":"2+2","reasoning_details":[{"type":"reasoning.text","text":"2+2","signature":"sig"}]}"""));

        Assert.That((string)message["content"]![0]!["thinking"]!, Is.EqualTo("2+2"));
        Assert.That((string)message["content"]![0]!["signature"]!, Is.EqualTo(GatewayThinking.Signature));
    }

    [Test]
    public void Case09_EmptyOrNullContentNextToToolCalls_NoEmptyTextBlock()
    {
        foreach (var content in new[] { "\"\"", "null" })
        {
            var message = Convert(Completion($$$"""{"role":"assistant","content":{{{content}}},"tool_calls":[{"id":"c","type":"function","function":{"name":"A","arguments":""}}]}""", "tool_calls"));

            Assert.That(Json(message["content"]), Is.EqualTo("""[{"type":"tool_use","id":"c","name":"A","input":{}}]"""));
        }
    }

    [TestCase("", "{}")]
    [TestCase("{}", "{}")]
    [TestCase("{\"a\":1", "{\"a\":1}")]
    [TestCase("{\"a\":\"unterminated", "{\"a\":\"unterminated\"}")]
    [TestCase("{\"a\":[1,2", "{\"a\":[1,2]}")]
    [TestCase("{\"a\":1,", "{\"a\":1}")]
    [TestCase("\"{\\\"a\\\":1}\"", "{\"a\":1}")]
    [TestCase("not json at all", "{\"_raw\":\"not json at all\"}")]
    [TestCase("[1,2]", "{\"_raw\":\"[1,2]\"}")]
    public void ToolArguments_AlwaysAnObject(string arguments, string input)
    {
        var message = Convert(Completion($$$"""{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"A","arguments":{{{JsonSerializer.Serialize(arguments)}}}}}]}""", "tool_calls"));

        Assert.That(Json(message["content"]![0]!["input"]), Is.EqualTo(input));
    }

    [Test]
    public void ToolArgumentsAsObject_Accepted()
    {
        var message = Convert(Completion("""{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"A","arguments":{"x":1}}}]}""", "tool_calls"));

        Assert.That(Json(message["content"]![0]!["input"]), Is.EqualTo("""{"x":1}"""));
    }

    [Test]
    public void Case08_ToolIdsWithColonAndDot_Sanitised_MissingIdDerived()
    {
        var message = Convert(Completion("""{"role":"assistant","tool_calls":[{"id":"functions.Bash:0","type":"function","function":{"name":"Bash","arguments":"{}"}},{"type":"function","function":{"name":"Bash","arguments":"{}"}}]}""", "tool_calls"));

        var ids = message["content"]!.AsArray().Select(b => (string)b!["id"]!).ToArray();
        Assert.That(ids, Has.All.Match("^[a-zA-Z0-9_-]+$"));
        Assert.That(ids[0], Is.EqualTo(AnthropicToolId.Sanitize("functions.Bash:0")));
        Assert.That(ids[1], Is.EqualTo("toolu_fixed_1"));
    }

    [Test]
    public void LongToolName_MappedBack()
    {
        var names = new ToolNameMap();
        var longName = "mcp__" + new string('y', 90);
        var message = Convert(Completion($$$"""{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"{{{names.ToUpstream(longName)}}}","arguments":"{}"}}]}""", "tool_calls"), names);

        Assert.That((string)message["content"]![0]!["name"]!, Is.EqualTo(longName));
    }

    [TestCase("stop", false, "end_turn")]
    [TestCase("stop", true, "tool_use")]
    [TestCase("length", false, "max_tokens")]
    [TestCase("tool_calls", true, "tool_use")]
    [TestCase("function_call", true, "tool_use")]
    [TestCase("content_filter", false, "refusal")]
    [TestCase(null, false, "end_turn")]
    [TestCase("weird", false, "end_turn")]
    public void Case18_FinishReason_Mapped(string? finish, bool tools, string stopReason)
    {
        var toolCalls = tools ? ""","tool_calls":[{"id":"c","type":"function","function":{"name":"A","arguments":"{}"}}]""" : string.Empty;
        var message = Convert(Completion($$$"""{"role":"assistant","content":"x"{{{toolCalls}}}}""", finish));

        Assert.That((string)message["stop_reason"]!, Is.EqualTo(stopReason));
        Assert.That(message["stop_sequence"], Is.Null);
    }

    [TestCase(""","stop_reason":"###" """)]
    [TestCase(""","matched_stop":"###" """)]
    public void Case17_StopSequenceFromVllmOrSglang(string extra)
    {
        var message = Convert(Completion("""{"role":"assistant","content":"x"}""", "stop", extraChoice: extra.TrimEnd()));

        Assert.That((string)message["stop_reason"]!, Is.EqualTo("stop_sequence"));
        Assert.That((string)message["stop_sequence"]!, Is.EqualTo("###"));
    }

    [Test]
    public void Refusal_TextBlockAndRefusalStopReason()
    {
        var message = Convert(Completion("""{"role":"assistant","content":null,"refusal":"I can't."}"""));

        Assert.That(Json(message["content"]), Is.EqualTo("""[{"type":"text","text":"I can't."}]"""));
        Assert.That((string)message["stop_reason"]!, Is.EqualTo("refusal"));
    }

    [TestCase("""{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":900}}""", 100, 900, 0)]
    [TestCase("""{"prompt_tokens":1000,"completion_tokens":50,"prompt_cache_hit_tokens":600,"prompt_cache_miss_tokens":400}""", 400, 600, 0)]
    [TestCase("""{"prompt_tokens":1000,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":300}}""", 600, 100, 300)]
    [TestCase("""{"prompt_tokens":10,"completion_tokens":50,"prompt_tokens_details":{"cached_tokens":900}}""", 0, 900, 0)]
    public void Case19_Usage_InputExcludesCache(string usage, long input, long cacheRead, long cacheWrite)
    {
        var message = Convert(Completion("""{"role":"assistant","content":"x"}""", usage: usage));

        Assert.That(Json(message["usage"]), Is.EqualTo($$"""{"input_tokens":{{input}},"output_tokens":50,"cache_creation_input_tokens":{{cacheWrite}},"cache_read_input_tokens":{{cacheRead}}}"""));
    }

    [Test]
    public void ErrorBodyIn200_AnthropicError()
    {
        var body = ChatUpstream.ConvertResponse("""{"error":{"message":"context too long","type":"invalid_request_error","code":"context_length_exceeded"}}"""u8, "m", ToolNameMap.Identity);

        Assert.That(Encoding.UTF8.GetString(body), Is.EqualTo("""{"type":"error","error":{"type":"invalid_request_error","message":"context too long"}}"""));
    }

    [Test]
    public void MalformedBody_AnthropicApiError()
    {
        var body = JsonNode.Parse(ChatUpstream.ConvertResponse("{oops"u8, "m", ToolNameMap.Identity))!;

        Assert.That((string)body["error"]!["type"]!, Is.EqualTo("api_error"));
    }
}
