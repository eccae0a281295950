using System.ClientModel;
using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using OpenAI;
using OpenAI.Chat;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// OpenAI-style clients through the gateway: the official OpenAI .NET SDK against an Anthropic channel
/// (converted both ways, parallel tool calls streamed) and against an OpenAI channel (passed through),
/// and the legacy Completions API against both.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class OpenAIClientsTests
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
            ["deepseek.json"] = TestGateway.OpenAIChannel(_openai.BaseUrl(), """ "models": ["deepseek-*", "gpt-*"], "modelMapping": { "gpt-4o": "deepseek-chat" } """),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _anthropic.Dispose();
        _openai.Dispose();
    }

    private ChatClient Chat(string model) => new(model, new ApiKeyCredential(TestGateway.AccessKey),
        new OpenAIClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private static readonly ChatTool ReadTool = ChatTool.CreateFunctionTool("Read", "Reads a file",
        BinaryData.FromString("""{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"""));

    [Test]
    public async Task Streaming_ParallelToolCalls_FromAnthropicChannel_ArriveIndexedAmongToolCalls()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithEvents(_ => [
            FakeAnthropic.MessageStart("up-sonnet", 42),
            FakeAnthropic.ThinkingBlockStart(0),
            FakeAnthropic.ThinkingDelta(0, "two files"),
            FakeAnthropic.SignatureDelta(0, "EqQBsig"),
            FakeAnthropic.BlockStop(0),
            FakeAnthropic.TextBlockStart(1),
            FakeAnthropic.TextDelta(1, "Reading both."),
            FakeAnthropic.BlockStop(1),
            FakeAnthropic.ToolUseBlockStart(2, "toolu_a", "Read"),
            FakeAnthropic.InputJsonDelta(2, "{\"path\":"),
            FakeAnthropic.InputJsonDelta(2, "\"a.txt\"}"),
            FakeAnthropic.BlockStop(2),
            FakeAnthropic.ToolUseBlockStart(3, "toolu_b", "Read"),
            FakeAnthropic.InputJsonDelta(3, "{\"path\":\"b.txt\"}"),
            FakeAnthropic.BlockStop(3),
            FakeAnthropic.MessageDelta("tool_use", 17),
            FakeAnthropic.MessageStop(),
        ]));

        var client = Chat("claude-sonnet-4-6");
        var options = new ChatCompletionOptions { Tools = { ReadTool } };
        var text = "";
        var calls = new SortedDictionary<int, (string? Id, string? Name, string Args)>();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("read a.txt and b.txt")], options))
        {
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
            foreach (var call in update.ToolCallUpdates)
            {
                var (id, name, args) = calls.GetValueOrDefault(call.Index, (null, null, ""));
                calls[call.Index] = (id ?? call.ToolCallId, name ?? call.FunctionName, args + call.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.That(text, Is.EqualTo("Reading both."));
        Assert.That(calls.Keys, Is.EqualTo(new[] { 0, 1 }), "indices count tool calls only, not Anthropic blocks");
        Assert.That(calls[0], Is.EqualTo(("toolu_a", "Read", "{\"path\":\"a.txt\"}")));
        Assert.That(calls[1], Is.EqualTo(("toolu_b", "Read", "{\"path\":\"b.txt\"}")));
        Assert.That(finish, Is.EqualTo(ChatFinishReason.ToolCalls));
        Assert.That(usage!.OutputTokenCount, Is.EqualTo(17));

        var seen = _anthropic.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages"));
        Assert.That(seen.Model, Is.EqualTo("up-sonnet"));
        Assert.That(seen.Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
        Assert.That(seen.Json!["tools"]![0]!["input_schema"]!["properties"]!["path"], Is.Not.Null);
    }

    [Test]
    public async Task ToolResults_SentBack_BecomeOneUserTurnOfToolResults_AnswerComesBack()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithJson(FakeAnthropic.Message("up-sonnet", [FakeAnthropic.TextBlock("a says 1, b says 2")])));
        var client = Chat("claude-sonnet-4-6");
        ChatMessage[] conversation =
        [
            new UserChatMessage("read a.txt and b.txt"),
            new AssistantChatMessage([
                ChatToolCall.CreateFunctionToolCall("toolu_a", "Read", BinaryData.FromString("""{"path":"a.txt"}""")),
                ChatToolCall.CreateFunctionToolCall("toolu_b", "Read", BinaryData.FromString("""{"path":"b.txt"}""")),
            ]),
            new ToolChatMessage("toolu_a", "1"),
            new ToolChatMessage("toolu_b", "2"),
        ];

        ChatCompletion answer = await client.CompleteChatAsync(conversation, new ChatCompletionOptions { Tools = { ReadTool } });

        Assert.That(answer.Content.Single().Text, Is.EqualTo("a says 1, b says 2"));
        Assert.That(answer.Model, Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(answer.FinishReason, Is.EqualTo(ChatFinishReason.Stop));
        var messages = _anthropic.Received().Single().Json!["messages"]!.AsArray();
        Assert.That(messages.Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        var results = messages[2]!["content"]!.AsArray();
        Assert.That(results.Select(b => (b!["type"]!.GetValue<string>(), b["tool_use_id"]!.GetValue<string>())),
            Is.EqualTo(new[] { ("tool_result", "toolu_a"), ("tool_result", "toolu_b") }));
    }

    [Test]
    public async Task OpenAIChannel_PassedThrough_ModelMappedAndRestored([Values] bool stream)
    {
        var client = Chat("gpt-4o");
        string text;
        if (stream)
        {
            text = "";
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("hi")]))
            {
                text += string.Concat(update.ContentUpdate.Select(p => p.Text));
                Assert.That(update.Model, Is.EqualTo("gpt-4o"));
            }
        }
        else
        {
            ChatCompletion answer = await client.CompleteChatAsync([new UserChatMessage("hi")]);
            text = answer.Content.Single().Text;
            Assert.That(answer.Model, Is.EqualTo("gpt-4o"));
        }

        Assert.That(text, Is.EqualTo(FakeUpstreamOptions.DefaultText));
        var seen = _openai.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/chat/completions"));
        Assert.That(seen.Model, Is.EqualTo("deepseek-chat"));
        Assert.That(seen.Header("authorization"), Is.EqualTo("Bearer " + FakeKeys.Upstream));
        Assert.That(_anthropic.Received(), Is.Empty);
    }

    [Test]
    public async Task AnthropicUpstreamOverloaded_OpenAIClientSees503ServerError()
    {
        _anthropic.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"));

        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat("claude-sonnet-4-6").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.That(ex!.Status, Is.EqualTo(503));
        var body = JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!;
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("Overloaded"));
    }

    [Test]
    public async Task AnthropicChannelAnswersJsonThatIsNoMessage_502InOpenAIShape()
    {
        _anthropic.AnswerEveryRequest(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"status":"ok","items":[]}"""));

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/chat/completions",
            """{"model":"claude-sonnet-4-6","messages":[{"role":"user","content":"hi"}]}""", bearer: true));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("claude").And.Contain("not a valid message"));
    }

    [Test]
    public async Task UnknownModel_OpenAIShaped404()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat("llama-3").CompleteChatAsync([new UserChatMessage("hi")]));

        Assert.That(ex!.Status, Is.EqualTo(404));
        var body = JsonNode.Parse(ex.GetRawResponse()!.Content.ToString())!;
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Does.Contain("llama-3"));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo("model_not_found"));
    }

    [TestCase("claude-sonnet-4-6")]
    [TestCase("deepseek-chat")]
    public async Task Completions_BothChannelTypes_TextCompletionShape(string model)
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/completions",
            $$"""{"model":"{{model}}","prompt":"Say hello","max_tokens":16}""", bearer: true));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["object"]!.GetValue<string>(), Is.EqualTo("text_completion"));
        Assert.That(json["model"]!.GetValue<string>(), Is.EqualTo(model));
        Assert.That(json["choices"]![0]!["text"]!.GetValue<string>(), Is.Not.Empty);
    }

    [Test]
    public async Task Completions_Streamed_TextChunksThenDone()
    {
        var request = _gateway.Post("/v1/completions", """{"model":"claude-sonnet-4-6","prompt":"Say hello","max_tokens":16,"stream":true}""", bearer: true);
        var (response, _) = await _gateway.SendAsync(request);
        var events = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(events.Last().Data, Is.EqualTo("[DONE]"));
        var chunks = events.SkipLast(1).Select(e => JsonNode.Parse(e.Data)!).ToList();
        Assert.That(chunks.Select(c => c["object"]!.GetValue<string>()).Distinct(), Is.EqualTo(new[] { "text_completion" }));
        Assert.That(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct().Count(), Is.EqualTo(1), "one id for the whole stream");
        Assert.That(string.Concat(chunks.SelectMany(c => c["choices"]!.AsArray()).Select(c => c!["text"]?.GetValue<string>())),
            Is.EqualTo(FakeUpstreamOptions.DefaultText));
    }

    [Test]
    public async Task Completions_TokenArrayPrompt_Clear400()
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/completions",
            """{"model":"deepseek-chat","prompt":[1,2,3],"max_tokens":16}""", bearer: true));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("token"));
        Assert.That(_openai.Received(), Is.Empty);
    }

    [Test]
    public async Task ChatN2_ToAnthropicChannel_Refused400()
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/chat/completions",
            """{"model":"claude-sonnet-4-6","n":2,"messages":[{"role":"user","content":"hi"}]}""", bearer: true));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("n"));
        Assert.That(_anthropic.Received(), Is.Empty);
    }
}
