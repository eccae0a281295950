using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide.AnthropicFixtures;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIResponses;

/// <summary>
/// OpenAI Responses clients (the Codex CLI's protocol) served from Messages: the request as Codex sends it becomes
/// the Messages request that says the same; the answer, whole and streamed, comes back as the items and events a
/// Responses client reads.
/// </summary>
[TestFixture]
public sealed class ResponsesClientTests
{
    private static readonly ConversionOptions Options = new() { UpstreamModel = "claude-sonnet-4-5" };

    private static JsonObject Convert(string json) =>
        JsonNode.Parse(ResponsesClient.ConvertRequest(Encoding.UTF8.GetBytes(json), Options).Value().Body)!.AsObject();

    private static string Compact(JsonNode? node) => node!.ToJsonString();

    [Test]
    public void CodexTurn_InstructionsAndDeveloperBecomeSystem_HistoryKeepsToolCallsPairedWithTheirOutputs()
    {
        // What Codex sends on its second turn: the harness instructions, the user's ask, and the history whole.
        var body = Convert("""
            {"model":"gpt-5-codex","stream":true,"store":false,"instructions":"You are Codex.",
             "input":[
               {"type":"message","role":"developer","content":[{"type":"input_text","text":"Use exec_command."}]},
               {"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]},
               {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA-opaque"},
               {"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"},
               {"type":"function_call_output","call_id":"call_1","output":"a.txt\nb.txt"}],
             "tools":[{"type":"function","name":"exec_command","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}],
             "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"summary":"auto"},
             "include":["reasoning.encrypted_content"],"prompt_cache_key":"session-1"}
            """);

        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-5"));
        Assert.That(Compact(body["system"]), Is.EqualTo("""[{"type":"text","text":"You are Codex."},{"type":"text","text":"Use exec_command."}]"""));
        var messages = body["messages"]!.AsArray();
        Assert.That(messages.Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        Assert.That(Compact(messages[1]!["content"]), Is.EqualTo("""[{"type":"tool_use","id":"call_1","name":"exec_command","input":{"cmd":"ls"}}]"""));
        Assert.That(Compact(messages[2]!["content"]), Is.EqualTo("""[{"type":"tool_result","tool_use_id":"call_1","content":[{"type":"text","text":"a.txt\nb.txt"}]}]"""));
        Assert.That(body.ToJsonString(), Does.Not.Contain("gAAAA-opaque"), "OpenAI's encrypted reasoning never reaches another family");
        Assert.That(Compact(body["tools"]), Is.EqualTo("""[{"name":"exec_command","input_schema":{"type":"object","properties":{"cmd":{"type":"string"}}}}]"""));
        Assert.That(body["stream"]!.GetValue<bool>(), Is.True);
    }

    [Test]
    public void StringInput_OutputLimit_SamplingAndSchema_AreCarried()
    {
        var body = Convert("""
            {"model":"m","input":"hi","max_output_tokens":300,"temperature":0.2,
             "text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}}
            """);

        Assert.That(Compact(body["messages"]), Is.EqualTo("""[{"role":"user","content":[{"type":"text","text":"hi"}]}]"""));
        Assert.That(body["max_tokens"]!.GetValue<long>(), Is.EqualTo(300));
        Assert.That(body["temperature"]!.GetValue<double>(), Is.EqualTo(0.2));
        Assert.That(Compact(body["output_config"]), Is.EqualTo("""{"format":{"type":"json_schema","schema":{"type":"object","properties":{"a":{"type":"string"}}}}}"""));
    }

    [Test]
    public void Images_ByUrl_BecomeImageBlocks()
    {
        var body = Convert("""
            {"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"what is this?"},{"type":"input_image","image_url":"https://example.com/cat.png"}]}]}
            """);

        Assert.That(Compact(body["messages"]![0]!["content"]![1]), Is.EqualTo("""{"type":"image","source":{"type":"url","url":"https://example.com/cat.png"}}"""));
    }

    [TestCase("""{"model":"m","input":"hi","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}""", "tool_choice: must be")]
    [TestCase("""{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}""", "item_reference")]
    [TestCase("""{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}""", "file_id references are not")]
    [TestCase("""{"model":"m","input":[{"type":"computer_call","call_id":"c"}]}""", "'computer_call' is not supported")]
    [TestCase("""{"model":"m"}""", "input: field required")]
    [TestCase("""{"model":"m","input":"hi","background":true}""", "background")]
    public void WhatCannotBeCarried_IsRefusedWithA400NamingTheField(string json, string expected)
    {
        Assert.That(ResponsesClient.ConvertRequest(Encoding.UTF8.GetBytes(json), Options).Refusal(), Does.Contain(expected));
    }

    // What the Chat converter underneath refuses is named as the Responses client sent it, never by a Chat field.
    [TestCase("""{"model":"m","input":[]}""", "input: at least one user or assistant message with content is required")]
    [TestCase("""{"model":"m","input":"hi","max_output_tokens":0}""", "max_output_tokens: must be a positive integer")]
    [TestCase("""{"model":"m","input":"hi","temperature":"hot"}""", "temperature: must be a number")]
    [TestCase("""{"model":"m","input":"hi","reasoning":{"effort":"ultra"}}""", "reasoning.effort: unknown value 'ultra' (none, minimal, low, medium, high, xhigh, max)")]
    [TestCase("""{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"ftp://host/cat.png"}]}]}""",
        "input[0].content[0].image_url: must be an http(s) URL or a data: URL")]
    [TestCase("""{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_data":"data:text/plain,abc"}]}]}""",
        "input[0].content[0].file_data: a data: URL must be base64 (data:<media type>;base64,<data>)")]
    [TestCase("""{"model":"m","input":[{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c1","output":[{"type":"input_file","file_data":"JVBERi0="}]}]}""",
        "input[1].output[0]: files are not supported in a function_call_output (text and images are)")]
    public void Refusals_NameTheResponsesField(string json, string expected)
    {
        Assert.That(ResponsesClient.ConvertRequest(Encoding.UTF8.GetBytes(json), Options).Refusal(), Is.EqualTo(expected));
    }

    [Test]
    public void HostedToolsAndCodexNamespaces_AreDropped_FunctionsKept()
    {
        // What Codex 0.171 offers besides its functions: a namespace of sub-agent tools and OpenAI's web search.
        var body = Convert("""
            {"model":"m","input":"hi","tools":[
              {"type":"function","name":"exec_command","parameters":{"type":"object"}},
              {"type":"namespace","name":"multi_agent_v1","tools":[{"type":"function","name":"close_agent","parameters":{"type":"object"}}]},
              {"type":"web_search","external_web_access":true}]}
            """);

        Assert.That(body["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()), Is.EqualTo(new[] { "exec_command" }));
    }

    [Test]
    public void OnlyHostedTools_NoToolsAreSent()
    {
        var body = Convert("""{"model":"m","input":"hi","tools":[{"type":"web_search"}],"tool_choice":"auto"}""");

        Assert.That(body.ContainsKey("tools"), Is.False);
        Assert.That(body.ContainsKey("tool_choice"), Is.False);
    }

    [Test]
    public void PreviousResponseId_IsNotFound_InOpenAIsTerms()
    {
        var result = ResponsesClient.ConvertRequest(Encoding.UTF8.GetBytes("""{"model":"m","input":"go on","previous_response_id":"resp_gone"}"""), Options);

        Assert.That(result.Failed(out var error, out _), Is.True);
        Assert.That(error!.Status, Is.EqualTo(404));
        Assert.That(error.Code, Is.EqualTo("previous_response_not_found"));
        Assert.That(error.Message, Does.Contain("resp_gone"));
    }

    [Test]
    public void WholeAnswer_BecomesReasoningMessageAndFunctionCallItems_WithUsageCountingCachedInput()
    {
        var message = """
            {"id":"msg_abc","type":"message","role":"assistant","model":"claude-sonnet-4-5",
             "content":[{"type":"thinking","thinking":"look first","signature":"sig"},{"type":"text","text":"Listing."},
                        {"type":"tool_use","id":"toolu_1","name":"exec_command","input":{"cmd":"ls"}}],
             "stop_reason":"tool_use","usage":{"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":90,"cache_creation_input_tokens":0}}
            """u8;

        var response = JsonNode.Parse(ResponsesClient.ConvertResponse(message, "gpt-5-codex", 1_700_000_000, responseId: "resp_abc"))!;

        Assert.That(response["id"]!.GetValue<string>(), Is.EqualTo("resp_abc"));
        var once = JsonNode.Parse(ResponsesClient.ConvertResponse(message, "m", 1))!["id"]!.GetValue<string>();
        var again = JsonNode.Parse(ResponsesClient.ConvertResponse(message, "m", 1))!["id"]!.GetValue<string>();
        Assert.That(once, Does.StartWith("resp_").And.Not.EqualTo(again), "every answer gets an id of its own, even for the same upstream message");
        Assert.That(response["object"]!.GetValue<string>(), Is.EqualTo("response"));
        Assert.That(response["status"]!.GetValue<string>(), Is.EqualTo("completed"));
        Assert.That(response["model"]!.GetValue<string>(), Is.EqualTo("gpt-5-codex"));
        var output = response["output"]!.AsArray();
        Assert.That(output.Select(i => i!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "reasoning", "message", "function_call" }));
        Assert.That(Compact(output[0]!["summary"]), Is.EqualTo("""[{"type":"summary_text","text":"look first"}]"""));
        Assert.That(output[0]!.AsObject().ContainsKey("encrypted_content"), Is.False, "Anthropic's signature is not OpenAI's proof");
        Assert.That(Compact(output[1]!["content"]), Is.EqualTo("""[{"type":"output_text","text":"Listing.","annotations":[]}]"""));
        Assert.That(output[2]!["call_id"]!.GetValue<string>(), Is.EqualTo("toolu_1"));
        Assert.That(output[2]!["arguments"]!.GetValue<string>(), Is.EqualTo("""{"cmd":"ls"}"""));
        Assert.That(Compact(response["usage"]), Is.EqualTo(
            """{"input_tokens":100,"input_tokens_details":{"cached_tokens":90},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":107}"""));
    }

    [Test]
    public void WholeAnswer_CutByTheTokenLimit_IsIncomplete()
    {
        var message = """{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Once upon"}],"stop_reason":"max_tokens","usage":{"input_tokens":5,"output_tokens":16}}"""u8;

        var response = JsonNode.Parse(ResponsesClient.ConvertResponse(message, "m", 1))!;

        Assert.That(response["status"]!.GetValue<string>(), Is.EqualTo("incomplete"));
        Assert.That(Compact(response["incomplete_details"]), Is.EqualTo("""{"reason":"max_output_tokens"}"""));
    }

    private static byte[] ToolTurnStream() => StreamHarness.Anthropic(
        MessageStart("msg_s1", input: 20, cacheRead: 80),
        ThinkingStart(0), ThinkingDelta(0, "look "), ThinkingDelta(0, "first"), SignatureDelta(0), BlockStop(0),
        TextStart(1), TextDelta(1, "Listing "), TextDelta(1, "files 👋"), BlockStop(1),
        ToolStart(2, "toolu_a", "exec_command"), JsonDelta(2, "{\"cmd\":"), JsonDelta(2, "\"ls\"}"), BlockStop(2),
        MessageDelta("tool_use", 12),
        """{"type":"message_stop"}""");

    private static async Task<List<JsonObject>> EventsAsync(byte[] upstream, Stream? delivery = null)
    {
        var output = await StreamHarness.RunAsync(new MessagesStreamToResponses("gpt-5-codex", 1_700_000_000, "resp_s1"), delivery ?? new WholeStream(upstream));
        var events = await StreamHarness.ParseAsync(output);
        Assert.That(events.All(e => e.EventType == JsonNode.Parse(e.Data)!["type"]!.GetValue<string>()), Is.True, "every frame's event: line names its type");
        return [.. events.Select(e => JsonNode.Parse(e.Data)!.AsObject())];
    }

    [Test]
    public async Task Stream_ToolTurn_TheFullEventSequence_WithConsistentNumbering()
    {
        var events = await EventsAsync(ToolTurnStream());

        Assert.That(events.Select(e => e["type"]!.GetValue<string>()), Is.EqualTo(new[]
        {
            "response.created", "response.in_progress",
            "response.output_item.added", "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.completed",
        }));
        Assert.That(events.Select(e => e["sequence_number"]!.GetValue<int>()), Is.EqualTo(Enumerable.Range(0, events.Count)));
        foreach (var e in events.Where(e => e.ContainsKey("item_id")))
        {
            var added = events.First(a => a["type"]!.GetValue<string>() == "response.output_item.added" && a["item"]!["id"]!.GetValue<string>() == e["item_id"]!.GetValue<string>());
            Assert.That(e["output_index"]!.GetValue<int>(), Is.EqualTo(added["output_index"]!.GetValue<int>()), e.ToJsonString());
        }

        var completed = events[^1]["response"]!;
        Assert.That(completed["status"]!.GetValue<string>(), Is.EqualTo("completed"));
        Assert.That(completed["id"]!.GetValue<string>(), Is.EqualTo("resp_s1"));
        var output = completed["output"]!.AsArray();
        Assert.That(output.Select(i => i!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "reasoning", "message", "function_call" }));
        Assert.That(output[1]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Listing files 👋"));
        Assert.That(output[2]!["call_id"]!.GetValue<string>(), Is.EqualTo("toolu_a"));
        Assert.That(output[2]!["arguments"]!.GetValue<string>(), Is.EqualTo("""{"cmd":"ls"}"""));
        Assert.That(Compact(completed["usage"]), Is.EqualTo(
            """{"input_tokens":100,"input_tokens_details":{"cached_tokens":80},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":112}"""));
        Assert.That(Compact(events[20]["item"]), Is.EqualTo(Compact(output[2])), "output_item.done carries the item response.completed lists");
    }

    [Test]
    public async Task Stream_AnySplitOfTheUpstreamBytes_GivesTheSameEvents()
    {
        var upstream = ToolTurnStream();
        var whole = await StreamHarness.RunAsync(new MessagesStreamToResponses("m", 1, "resp_x"), new WholeStream(upstream));

        for (var k = 0; k <= upstream.Length; k++)
        {
            var split = await StreamHarness.RunAsync(new MessagesStreamToResponses("m", 1, "resp_x"), ChunkedStream.SplitAt(upstream, k));
            Assert.That(split, Is.EqualTo(whole), $"split at {k}");
        }
    }

    [Test]
    public async Task Stream_CutBeforeItFinished_EndsInResponseFailed_NotCompleted()
    {
        var cut = StreamHarness.Anthropic(MessageStart("msg_c"), TextStart(0), TextDelta(0, "Half"));
        var converter = new MessagesStreamToResponses("m", 1, null);

        var events = (await StreamHarness.ParseAsync(await StreamHarness.RunAsync(converter, new WholeStream(cut))))
            .Select(e => JsonNode.Parse(e.Data)!).ToList();

        Assert.That(events[^1]["type"]!.GetValue<string>(), Is.EqualTo("response.failed"));
        Assert.That(events[^1]["response"]!["error"]!["message"]!.GetValue<string>(), Does.Contain("ended before"));
        Assert.That(events[^2]["type"]!.GetValue<string>(), Is.EqualTo("response.output_item.done"), "the item the stream was in is closed");
        Assert.That(events[^2]["item"]!["status"]!.GetValue<string>(), Is.EqualTo("incomplete"));
        Assert.That(events[^2]["item"]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Half"));
        Assert.That(events[^1]["response"]!["output"]!.AsArray(), Has.Count.EqualTo(1));
        Assert.That(events.Select(e => e["type"]!.GetValue<string>()), Does.Not.Contain("response.completed"));
    }

    [Test]
    public async Task Stream_StoppedByTheTokenLimit_EndsInResponseIncomplete()
    {
        var upstream = StreamHarness.Anthropic(MessageStart("msg_l"), TextStart(0), TextDelta(0, "Once"), BlockStop(0), MessageDelta("max_tokens", 1), """{"type":"message_stop"}""");

        var events = await EventsAsync(upstream);

        Assert.That(events[^1]["type"]!.GetValue<string>(), Is.EqualTo("response.incomplete"));
        Assert.That(events[^1]["response"]!["incomplete_details"]!["reason"]!.GetValue<string>(), Is.EqualTo("max_output_tokens"));
    }
}
