#pragma warning disable OPENAI001 // The SDK's Responses client is marked experimental.
using System.ClientModel;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using OpenAI.Responses;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// OpenAI Responses clients through the gateway: the official OpenAI .NET SDK's <see cref="ResponsesClient"/> against
/// an Anthropic channel (one codec: Responses to and from Messages) and against an OpenAI Chat channel (two codecs
/// chained through Messages), streamed and not, with a tool call; and the errors it reads in OpenAI's shape.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ResponsesClientsTests
{
    private WireMockServer _anthropic = null!;
    private WireMockServer _openai = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _anthropic = WireMockUpstream.StartProvider();
        _openai = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["claude.json"] = TestGateway.AnthropicChannel(_anthropic.BaseUrl(), """ "models": ["claude-*"], "modelMapping": { "sonnet": "up-sonnet" } """),
            ["deepseek.json"] = TestGateway.OpenAIChannel(_openai.BaseUrl(), """ "models": ["deepseek-*", "gpt-*"], "modelMapping": { "gpt-5": "deepseek-chat" } """),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _anthropic.Dispose();
        _openai.Dispose();
    }

    private ResponsesClient Client() => new(new ApiKeyCredential(TestGateway.AccessKey),
        new ResponsesClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private static CreateResponseOptions ListFilesRequest(string model)
    {
        var options = new CreateResponseOptions { Model = model, StoredOutputEnabled = false };
        options.InputItems.Add(ResponseItem.CreateDeveloperMessageItem("Use exec_command."));
        options.InputItems.Add(ResponseItem.CreateUserMessageItem("list the files"));
        options.Tools.Add(ResponseTool.CreateFunctionTool("exec_command",
            BinaryData.FromString("""{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"]}"""), strictModeEnabled: false));
        return options;
    }

    [Test]
    public async Task AnthropicChannel_Streamed_ToolCallAndText_ArriveAsResponsesEvents()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithEvents(_ => [
            FakeAnthropic.MessageStart("up-sonnet", 42),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "Listing."),
            FakeAnthropic.BlockStop(0),
            FakeAnthropic.ToolUseBlockStart(1, "toolu_a", "exec_command"),
            FakeAnthropic.InputJsonDelta(1, "{\"cmd\":"),
            FakeAnthropic.InputJsonDelta(1, "\"ls\"}"),
            FakeAnthropic.BlockStop(1),
            FakeAnthropic.MessageDelta("tool_use", 17),
            FakeAnthropic.MessageStop(),
        ]));

        var (text, calls, completed) = await ResponsesStreamRead.ReadAsync(Client(), ListFilesRequest("claude-sonnet-4-6"));
        var call = calls.SingleOrDefault();

        Assert.That(text, Is.EqualTo("Listing."));
        Assert.That(call, Is.Not.Null);
        Assert.That(call!.CallId, Is.EqualTo("toolu_a"));
        Assert.That(call.FunctionName, Is.EqualTo("exec_command"));
        Assert.That(call.FunctionArguments.ToString(), Is.EqualTo("""{"cmd":"ls"}"""));
        Assert.That(completed, Is.Not.Null);
        Assert.That(completed!.Model, Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(completed.Usage.OutputTokenCount, Is.EqualTo(17));

        var seen = _anthropic.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages"));
        Assert.That(seen.Model, Is.EqualTo("up-sonnet"));
        Assert.That(seen.Json!["system"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Use exec_command."));
        Assert.That(seen.Json["tools"]![0]!["name"]!.GetValue<string>(), Is.EqualTo("exec_command"));
    }

    [Test]
    public async Task AnthropicChannel_Streamed_ParallelCalls_EachWithItsOwnIdAndArguments()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithEvents(_ => [
            FakeAnthropic.MessageStart("up-sonnet", 42),
            FakeAnthropic.ToolUseBlockStart(0, "toolu_a", "exec_command"),
            FakeAnthropic.InputJsonDelta(0, "{\"cmd\":\"ls\"}"),
            FakeAnthropic.BlockStop(0),
            FakeAnthropic.ToolUseBlockStart(1, "toolu_b", "exec_command"),
            FakeAnthropic.InputJsonDelta(1, "{\"cmd\":"),
            FakeAnthropic.InputJsonDelta(1, "\"pwd\"}"),
            FakeAnthropic.BlockStop(1),
            FakeAnthropic.MessageDelta("tool_use", 30),
            FakeAnthropic.MessageStop(),
        ]));

        var (_, calls, completed) = await ResponsesStreamRead.ReadAsync(Client(), ListFilesRequest("claude-sonnet-4-6"));

        Assert.That(calls.Select(c => (c.CallId, c.FunctionArguments.ToString())), Is.EqualTo(new[] { ("toolu_a", """{"cmd":"ls"}"""), ("toolu_b", """{"cmd":"pwd"}""") }));
        Assert.That(completed!.OutputItems.OfType<FunctionCallResponseItem>().Select(c => c.CallId), Is.EqualTo(new[] { "toolu_a", "toolu_b" }));
    }

    [Test]
    public async Task OpenAIChatChannel_Whole_ParallelCalls_EachWithItsOwnIdAndArguments()
    {
        var message = new System.Text.Json.Nodes.JsonObject
        {
            ["role"] = "assistant",
            ["content"] = null,
            ["tool_calls"] = new System.Text.Json.Nodes.JsonArray(
                FakeOpenAI.ToolCall("call_1", "exec_command", """{"cmd":"ls"}"""), FakeOpenAI.ToolCall("call_2", "exec_command", """{"cmd":"pwd"}""")),
        };
        _openai.AnswerEveryRequest(Response.Create().WithJson(FakeOpenAI.ChatCompletion("deepseek-chat", message, "tool_calls")));

        ResponseResult answer = await Client().CreateResponseAsync(ListFilesRequest("gpt-5"));

        Assert.That(answer.OutputItems.OfType<FunctionCallResponseItem>().Select(c => (c.CallId, c.FunctionArguments.ToString())),
            Is.EqualTo(new[] { ("call_1", """{"cmd":"ls"}"""), ("call_2", """{"cmd":"pwd"}""") }));
        Assert.That(answer.Status, Is.EqualTo(ResponseStatus.Completed));
    }

    [Test]
    public async Task AnthropicChannel_ToolOutputSentBack_PairsWithItsCall_AndTheAnswerComesBackWhole()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithJson(FakeAnthropic.Message("up-sonnet", [FakeAnthropic.TextBlock("two files")])));
        var options = ListFilesRequest("claude-sonnet-4-6");
        options.InputItems.Add(ResponseItem.CreateFunctionCallItem("toolu_a", "exec_command", BinaryData.FromString("""{"cmd":"ls"}""")));
        options.InputItems.Add(ResponseItem.CreateFunctionCallOutputItem("toolu_a", "a.txt\nb.txt"));

        ResponseResult answer = await Client().CreateResponseAsync(options);

        Assert.That(answer.GetOutputText(), Is.EqualTo("two files"));
        Assert.That(answer.Status, Is.EqualTo(ResponseStatus.Completed));
        var messages = _anthropic.Received().Single().Json!["messages"]!.AsArray();
        Assert.That(messages.Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        Assert.That(messages[1]!["content"]![0]!["id"]!.GetValue<string>(), Is.EqualTo("toolu_a"));
        Assert.That(messages[2]!["content"]![0]!["tool_use_id"]!.GetValue<string>(), Is.EqualTo("toolu_a"));
    }

    [Test]
    public async Task OpenAIChatChannel_ThroughTheHub_StreamedAndNot([Values] bool stream)
    {
        var client = Client();
        string text;
        if (stream)
        {
            text = "";
            await foreach (var update in await client.CreateResponseStreamingAsync("gpt-5", [ResponseItem.CreateUserMessageItem("hi")]))
            {
                if (update is StreamingResponseOutputTextDeltaUpdate delta)
                {
                    text += delta.Delta;
                }
            }
        }
        else
        {
            ResponseResult answer = await client.CreateResponseAsync("gpt-5", [ResponseItem.CreateUserMessageItem("hi")]);
            text = answer.GetOutputText();
            Assert.That(answer.Model, Is.EqualTo("gpt-5"));
        }

        Assert.That(text, Is.EqualTo(FakeUpstreamOptions.DefaultText));
        var seen = _openai.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/chat/completions"));
        Assert.That(seen.Model, Is.EqualTo("deepseek-chat"));
        Assert.That(seen.Json!["messages"]![0]!["content"]!.ToJsonString(), Does.Contain("hi"));
        Assert.That(_anthropic.Received(), Is.Empty);
    }

    [Test]
    public async Task Usage_OfResponsesAnswers_IsAccounted_StreamedAndWhole()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithAnswer(request => request.IsStream
            ? StockAnswer.OfStream([FakeAnthropic.MessageStart("up-sonnet", 42), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "a"),
                FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 17), FakeAnthropic.MessageStop()])
            : StockAnswer.OfJson(200, FakeAnthropic.Message("up-sonnet", [FakeAnthropic.TextBlock("b")], inputTokens: 31, outputTokens: 5))));

        var streamed = new CreateResponseOptions { Model = "claude-sonnet-4-6", StoredOutputEnabled = false };
        streamed.InputItems.Add(ResponseItem.CreateUserMessageItem("one"));
        await ResponsesStreamRead.ReadAsync(Client(), streamed);
        await Client().CreateResponseAsync(new CreateResponseOptions { Model = "claude-sonnet-4-6", StoredOutputEnabled = false, InputItems = { ResponseItem.CreateUserMessageItem("two") } });

        // The request log line carries what usage accounting records.
        await Telemetry.Poll.UntilAsync(() => _gateway.Logs.Lines.Count(l => l.Contains(": request ", StringComparison.Ordinal)) >= 2 ? "" : null, "both log lines");
        var lines = _gateway.Logs.Lines.Where(l => l.Contains(": request ", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Some.Contains("tokens in 42 out 17"), string.Join("\n", lines));
        Assert.That(lines, Has.Some.Contains("tokens in 31 out 5"), string.Join("\n", lines));
    }

    [Test]
    public async Task PreviousResponseId_Unknown_IsA404InOpenAIsShape()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() =>
            Client().CreateResponseAsync("claude-sonnet-4-6", [ResponseItem.CreateUserMessageItem("go on")], previousResponseId: "resp_nowhere"));

        Assert.That(ex!.Status, Is.EqualTo(404));
        var body = System.Text.Json.Nodes.JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!;
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Does.Contain("resp_nowhere"));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo("previous_response_not_found"));
        Assert.That(_anthropic.Received(), Is.Empty);
    }
}
