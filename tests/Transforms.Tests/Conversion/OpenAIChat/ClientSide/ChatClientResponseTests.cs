using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

[TestFixture]
public sealed class ChatClientResponseTests
{
    private static JsonObject Convert(string anthropic) =>
        JsonNode.Parse(ChatClient.ConvertResponse(Encoding.UTF8.GetBytes(anthropic), "gpt-4o", StreamHarness.Created))!.AsObject();

    private static string Message(string content, string stopReason = "end_turn", string usage = """{"input_tokens":5,"output_tokens":7}""") =>
        """{"id":"msg_01","type":"message","role":"assistant","model":"claude","content":""" + content +
        ""","stop_reason":""" + JsonSerializer.Serialize(stopReason) + ""","stop_sequence":null,"usage":""" + usage + "}";

    [Test]
    public void TextAnswer_HasTheChatCompletionShape()
    {
        var body = Convert(Message("""[{"type":"text","text":"Hello"}]"""));

        const string Expected =
            """{"id":"chatcmpl-msg_01","object":"chat.completion","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}}}""";
        Assert.That(body.ToJsonString(), Is.EqualTo(Expected));
    }

    [Test]
    public void Case34_AllTextBlocksJoined_ThinkingAsReasoning_ToolCallsInOrder()
    {
        var body = Convert(AnthropicFixtures.ParallelToolsMessage);
        var message = body["choices"]![0]!["message"]!;

        Assert.That(message["content"]!.GetValue<string>(), Is.EqualTo("Checking all three."));
        Assert.That(message["reasoning_content"]!.GetValue<string>(), Is.EqualTo("Three cities, three calls."));
        var calls = message["tool_calls"]!.AsArray();
        Assert.That(calls.Select(c => c!["id"]!.GetValue<string>()), Is.EqualTo(new[] { "toolu_a", "toolu_b", "toolu_c" }));
        Assert.That(calls.Select(c => c!["type"]!.GetValue<string>()), Is.All.EqualTo("function"));
        Assert.That(calls.Select(c => c!["function"]!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "get_weather", "get_weather", "get_time" }));
        Assert.That(
            calls.Select(c => c!["function"]!["arguments"]!.GetValue<string>()),
            Is.EqualTo(new[] { """{"city":"Paris"}""", """{"city":"東京"}""", "{}" }));
        Assert.That(body["choices"]![0]!["finish_reason"]!.GetValue<string>(), Is.EqualTo("tool_calls"));
    }

    [Test]
    public void Case34_SeveralTextBlocks_AreAllKept()
    {
        var body = Convert(Message("""[{"type":"text","text":"one "},{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"two"}]"""));

        Assert.That(body["choices"]![0]!["message"]!["content"]!.GetValue<string>(), Is.EqualTo("one two"));
        Assert.That(body["choices"]![0]!["message"]!.AsObject().ContainsKey("reasoning_content"), Is.False);
    }

    [Test]
    public void OnlyToolCalls_ContentIsNull()
    {
        var body = Convert(Message("""[{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":[1,2]}}]""", "tool_use"));
        var message = body["choices"]![0]!["message"]!.AsObject();

        Assert.That(message.ContainsKey("content"), Is.True);
        Assert.That(message["content"], Is.Null);
        Assert.That(message["tool_calls"]![0]!["function"]!["arguments"]!.GetValue<string>(), Is.EqualTo("""{"a":[1,2]}"""));
    }

    [TestCase("end_turn", "stop")]
    [TestCase("stop_sequence", "stop")]
    [TestCase("max_tokens", "length")]
    [TestCase("tool_use", "tool_calls")]
    [TestCase("refusal", "content_filter")]
    [TestCase("pause_turn", "stop")]
    [TestCase("model_context_window_exceeded", "length")]
    [TestCase("something_new", "stop")]
    public void Case17And18_StopReasons_MapToOpenAIValuesOnly(string stopReason, string finishReason)
    {
        var body = Convert(Message("""[{"type":"text","text":"x"}]""", stopReason));

        Assert.That(body["choices"]![0]!["finish_reason"]!.GetValue<string>(), Is.EqualTo(finishReason));
    }

    [Test]
    public void Case19_UsageWithCache_PromptTokensIncludeCacheReadsAndWrites()
    {
        var body = Convert(Message("""[{"type":"text","text":"x"}]""", usage: """{"input_tokens":10,"output_tokens":42,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}"""));

        Assert.That(body["usage"]!.ToJsonString(), Is.EqualTo(
            """{"prompt_tokens":130,"completion_tokens":42,"total_tokens":172,"prompt_tokens_details":{"cached_tokens":100}}"""));
    }

    [Test]
    public void MissingId_GetsARandomChatcmplId()
    {
        var body = Convert("""{"type":"message","content":[{"type":"text","text":"x"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}""");

        Assert.That(body["id"]!.GetValue<string>(), Does.Match("^chatcmpl-[0-9a-f]{24}$"));
    }

    [Test]
    public void PublicOverload_UsesTheClock()
    {
        var before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var body = JsonNode.Parse(ChatClient.ConvertResponse(Encoding.UTF8.GetBytes(Message("""[]""")), "m", TimeProvider.System))!;

        Assert.That(body["created"]!.GetValue<long>(), Is.InRange(before, before + 5));
    }

    [TestCase("not json")]
    [TestCase("""{"type":"error","error":{"type":"api_error","message":"x"}}""")]
    public void NotAMessage_Throws(string body) =>
        Assert.That(() => ChatClient.ConvertResponse(Encoding.UTF8.GetBytes(body), "m", TimeProvider.System), Throws.InstanceOf<JsonException>());
}
