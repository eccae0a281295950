using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIResponses;

/// <summary>
/// A Messages request (Claude Code's) to an OpenAI Responses upstream, and the answer back: turns become input items
/// with tool calls and their results paired by id, and the Responses answer, whole or streamed, becomes an Anthropic
/// message with the same ids, stop reason and usage.
/// </summary>
[TestFixture]
public sealed class ResponsesUpstreamTests
{
    private static readonly ConversionOptions Options = new() { UpstreamModel = "gpt-5-2026", MaxTokensLimit = 8000 };

    private static string Compact(JsonNode? node) => node!.ToJsonString();

    [Test]
    public void ClaudeCodeToolLoop_BecomesInputItems_CallsAndOutputsPairedById()
    {
        var body = JsonNode.Parse(ResponsesUpstream.ConvertRequest(Encoding.UTF8.GetBytes("""
            {"model":"claude-sonnet-4-6","max_tokens":32000,"stream":true,
             "system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],
             "messages":[
               {"role":"user","content":[{"type":"text","text":"read note.txt"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]},
               {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"file_path":"note.txt"}}]},
               {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"secret"}]},{"type":"text","text":"and?"}]}],
             "tools":[{"name":"Read","description":"Reads a file","input_schema":{"type":"object","properties":{"file_path":{"type":"string"}}}},{"type":"web_search_20250305","name":"web_search"}],
             "tool_choice":{"type":"auto","disable_parallel_tool_use":true},
             "metadata":{"user_id":"user_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef_account__session_x"}}
            """), Options).Value().Body)!.AsObject();

        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("gpt-5-2026"));
        Assert.That(body["instructions"]!.GetValue<string>(), Is.EqualTo("You are Claude Code.\n\nBe brief."));
        Assert.That(body["max_output_tokens"]!.GetValue<long>(), Is.EqualTo(8000), "clamped to the channel's limit");
        Assert.That(body["store"]!.GetValue<bool>(), Is.False);
        Assert.That(body["stream"]!.GetValue<bool>(), Is.True);
        var input = body["input"]!.AsArray();
        Assert.That(input.Select(i => i!["type"]!.GetValue<string>() + ":" + (i["role"]?.GetValue<string>() ?? "")),
            Is.EqualTo(new[] { "message:user", "message:assistant", "function_call:", "function_call_output:", "message:user" }));
        Assert.That(Compact(input[0]!["content"]![1]), Is.EqualTo("""{"type":"input_image","image_url":"data:image/png;base64,iVBOR"}"""));
        Assert.That(Compact(input[1]!["content"]), Is.EqualTo("""[{"type":"output_text","text":"Reading."}]"""), "thinking is Anthropic's and stays behind");
        Assert.That((input[2]!["call_id"]!.GetValue<string>(), input[2]!["name"]!.GetValue<string>(), input[2]!["arguments"]!.GetValue<string>()),
            Is.EqualTo(("toolu_1", "Read", """{"file_path":"note.txt"}""")));
        Assert.That(Compact(input[3]), Is.EqualTo("""{"type":"function_call_output","call_id":"toolu_1","output":"secret"}"""));
        Assert.That(body["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "Read" }), "server tools have no counterpart");
        Assert.That(body["parallel_tool_calls"]!.GetValue<bool>(), Is.False);
        Assert.That(body["safety_identifier"]!.GetValue<string>(), Has.Length.EqualTo(64), "a long user id is hashed to OpenAI's limit");
    }

    [Test]
    public void WholeAnswer_FunctionCall_BecomesToolUse_WithUsageAndStopReason()
    {
        var answer = FakeResponses.Response("gpt-5-2026", [FakeResponses.Item.Message("Reading."), FakeResponses.Item.FunctionCall("call_9", "Read", """{"file_path":"a"}""")],
            inputTokens: 100, outputTokens: 12, cachedTokens: 60, id: "resp_abc");

        var message = JsonNode.Parse(ResponsesUpstream.ConvertResponse(Encoding.UTF8.GetBytes(answer.ToJsonString()), "claude-sonnet-4-6"))!;

        Assert.That(message["id"]!.GetValue<string>(), Is.EqualTo("msg_abc"));
        Assert.That(message["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(Compact(message["content"]), Is.EqualTo(
            """[{"type":"text","text":"Reading."},{"type":"tool_use","id":"call_9","name":"Read","input":{"file_path":"a"}}]"""));
        Assert.That(message["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(Compact(message["usage"]), Is.EqualTo("""{"input_tokens":40,"output_tokens":12,"cache_read_input_tokens":60,"cache_creation_input_tokens":0}"""));
    }

    [Test]
    public async Task LongToolName_ShortenedForOpenAI_AndGivenBackWholeAndStreamed()
    {
        var name = "mcp__company-knowledge-base__search_documents_by_semantic_similarity_v2";
        var converted = ResponsesUpstream.ConvertRequest(Encoding.UTF8.GetBytes($$$"""
            {"model":"m","max_tokens":100,"messages":[{"role":"user","content":"find"}],"tools":[{"name":"{{{name}}}","input_schema":{"type":"object"}}]}
            """), Options).Value();
        var sent = JsonNode.Parse(converted.Body)!["tools"]![0]!["name"]!.GetValue<string>();
        var items = new[] { FakeResponses.Item.FunctionCall("call_1", sent, """{"q":"x"}""") };

        var whole = JsonNode.Parse(ResponsesUpstream.ConvertResponse(Encoding.UTF8.GetBytes(FakeResponses.Response("gpt-5", items).ToJsonString()), "m", converted.ToolNames))!;
        var streamed = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(ResponsesUpstream.CreateStreamConverter("m", 1, converted.ToolNames),
            new WholeStream(Upstream(FakeResponses.Stream("gpt-5", items)))))).Select(e => JsonNode.Parse(e.Data)!);

        Assert.That(sent, Has.Length.LessThanOrEqualTo(64), "OpenAI's limit");
        Assert.That(whole["content"]![0]!["name"]!.GetValue<string>(), Is.EqualTo(name));
        Assert.That(streamed.Single(e => e["content_block"]?["type"]?.GetValue<string>() == "tool_use")["content_block"]!["name"]!.GetValue<string>(), Is.EqualTo(name));
    }

    private static byte[] Upstream(IEnumerable<StreamStep> steps) => Encoding.UTF8.GetBytes(string.Concat(steps.Select(s => s.WireText)));

    private static readonly byte[] s_toolTurn = Upstream(FakeResponses.Stream("gpt-5-2026",
        [FakeResponses.Item.Message("Reading 👋"), FakeResponses.Item.FunctionCall("call_1", "Read", """{"file_path":"note.txt"}""")], outputTokens: 7, id: "resp_s1"));

    [Test]
    public async Task Stream_ToolTurn_BecomesAnthropicBlocksInOrder()
    {
        var converter = ResponsesUpstream.CreateStreamConverter("claude-sonnet-4-6", 55);
        var events = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(converter, new WholeStream(s_toolTurn))))
            .Select(e => JsonNode.Parse(e.Data)!).ToList();

        Assert.That(events.Select(e => e["type"]!.GetValue<string>()), Is.EqualTo(new[]
        {
            "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop",
        }));
        Assert.That(events[0]["message"]!["id"]!.GetValue<string>(), Is.EqualTo("msg_s1"));
        Assert.That(events[0]["message"]!["usage"]!["input_tokens"]!.GetValue<long>(), Is.EqualTo(55));
        Assert.That(string.Concat(events.Skip(2).Take(2).Select(e => e["delta"]!["text"]!.GetValue<string>())), Is.EqualTo("Reading 👋"));
        Assert.That(Compact(events[5]["content_block"]), Is.EqualTo("""{"type":"tool_use","id":"call_1","name":"Read","input":{}}"""));
        Assert.That(events[5]["index"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(string.Concat(events.Skip(6).Take(2).Select(e => e["delta"]!["partial_json"]!.GetValue<string>())), Is.EqualTo("""{"file_path":"note.txt"}"""));
        Assert.That(events[9]["delta"]!["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(7));
    }

    [Test]
    public async Task Stream_AnySplitOfTheUpstreamBytes_GivesTheSameEvents()
    {
        static string Normalised(byte[] output) => System.Text.RegularExpressions.Regex.Replace(Encoding.UTF8.GetString(output), "msg_[0-9a-f]{24}", "msg_…");
        var whole = await StreamHarness.RunAsync(ResponsesUpstream.CreateStreamConverter("m", 1), new WholeStream(s_toolTurn));

        for (var k = 0; k <= s_toolTurn.Length; k += 5)
        {
            var split = await StreamHarness.RunAsync(ResponsesUpstream.CreateStreamConverter("m", 1), ChunkedStream.SplitAt(s_toolTurn, k));
            Assert.That(Normalised(split), Is.EqualTo(Normalised(whole)), $"split at {k}");
        }
    }

    [Test]
    public async Task Stream_CutBeforeItFinished_EndsInAnErrorEvent_NeverAStop()
    {
        var cut = Upstream(FakeResponses.Stream("gpt-5-2026", [FakeResponses.Item.Message("Half of it")]).Take(5));

        var events = await StreamHarness.ParseAsync(await StreamHarness.RunAsync(ResponsesUpstream.CreateStreamConverter("m", 1), new WholeStream(cut)));

        Assert.That(events[^1].EventType, Is.EqualTo("error"));
        Assert.That(events.Select(e => e.EventType), Does.Not.Contain("message_stop"));
    }
}
