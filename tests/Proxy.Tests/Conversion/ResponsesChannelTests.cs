#pragma warning disable OPENAI001 // The SDK's Responses client is marked experimental.
using System.ClientModel;
using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using OpenAI.Responses;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// A <c>responses</c> channel: an OpenAI Responses upstream. Responses clients are passed through to it with the model
/// mapped there and back, their conversation state resolved by the gateway first; Messages and Chat Completions clients
/// are converted to it through the hub.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ResponsesChannelTests
{
    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["openai-responses.json"] = TestGateway.ResponsesChannel(_upstream.BaseUrl(), """ "models": ["gpt-*"], "modelMapping": { "gpt-5": "gpt-5-2026" } """),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private ResponsesClient Client() => new(new ApiKeyCredential(TestGateway.AccessKey),
        new ResponsesClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    [Test]
    public async Task Streamed_PassedThrough_ModelMappedThereAndBack()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithEvents(_ => FakeResponses.Stream("gpt-5-2026",
            [FakeResponses.Item.Message("Hello there"), FakeResponses.Item.FunctionCall("call_1", "exec_command", """{"cmd":"ls"}""")])));
        var request = new CreateResponseOptions { Model = "gpt-5", StoredOutputEnabled = false };
        request.InputItems.Add(ResponseItem.CreateUserMessageItem("hi"));

        var (text, calls, completed) = await ResponsesStreamRead.ReadAsync(Client(), request);

        Assert.That(text, Is.EqualTo("Hello there"));
        Assert.That(calls.Single().CallId, Is.EqualTo("call_1"));
        Assert.That(completed!.Model, Is.EqualTo("gpt-5"), "the client's name for the model comes back");
        Assert.That(completed.Usage.OutputTokenCount, Is.EqualTo(9));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/responses"));
        Assert.That(seen.Model, Is.EqualTo("gpt-5-2026"));
        Assert.That(seen.Header("authorization"), Is.EqualTo("Bearer " + FakeKeys.Upstream));
    }

    [Test]
    public async Task Whole_KeptByTheGateway_PreviousResponseId_ReachesTheUpstreamAsTheWholeConversation()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithJson(FakeResponses.Response("gpt-5-2026", [FakeResponses.Item.Message("first answer")])));

        ResponseResult first = await Client().CreateResponseAsync("gpt-5", [ResponseItem.CreateUserMessageItem("first question")]);
        ResponseResult second = await Client().CreateResponseAsync("gpt-5", [ResponseItem.CreateUserMessageItem("second question")], first.Id);

        Assert.That(first.GetOutputText(), Is.EqualTo("first answer"));
        Assert.That(first.Model, Is.EqualTo("gpt-5"));
        Assert.That(second.GetOutputText(), Is.EqualTo("first answer"));
        var followUp = _upstream.Received()[1].Json!;
        Assert.That(followUp.AsObject().ContainsKey("previous_response_id"), Is.False, "the upstream never sees an id only the gateway knows");
        var input = followUp["input"]!.AsArray();
        Assert.That(input.Select(i => i!["role"]?.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        Assert.That(input[1]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("first answer"));
    }

    [Test]
    public async Task InputTokens_ForwardedToTheResponsesChannel_EstimatedOnAnother()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithJson(new System.Text.Json.Nodes.JsonObject { ["object"] = "response.input_tokens", ["input_tokens"] = 123 }));
        const string Body = """{"model":"gpt-5","input":"how many tokens is this?"}""";

        var (forwarded, forwardedJson) = await _gateway.SendAsync(_gateway.Post("/v1/responses/input_tokens", Body, bearer: true));
        using var anthropic = WireMockUpstream.StartProvider();
        await using var other = await TestGateway.StartAsync(new Dictionary<string, string> { ["a.json"] = TestGateway.AnthropicChannel(anthropic.BaseUrl()) });
        var (estimated, estimatedJson) = await other.SendAsync(other.Post("/v1/responses/input_tokens", Body, bearer: true));

        Assert.That(forwarded.StatusCode, Is.EqualTo(HttpStatusCode.OK), forwardedJson?.ToJsonString());
        Assert.That(forwardedJson!["input_tokens"]!.GetValue<int>(), Is.EqualTo(123));
        var seen = _upstream.Received().Single();
        Assert.That((seen.Path, seen.Model), Is.EqualTo(("/v1/responses/input_tokens", "gpt-5-2026")));
        Assert.That(estimated.StatusCode, Is.EqualTo(HttpStatusCode.OK), estimatedJson?.ToJsonString());
        Assert.That(estimatedJson!["object"]!.GetValue<string>(), Is.EqualTo("response.input_tokens"));
        Assert.That(estimatedJson["input_tokens"]!.GetValue<int>(), Is.GreaterThan(0));
        Assert.That(estimated.Headers.GetValues("x-ccx-token-count").Single(), Is.EqualTo("estimate"));
        Assert.That(anthropic.Received(), Is.Empty, "Anthropic has no count for a Responses request");
    }

    [Test]
    public async Task ReasoningItems_ReachTheResponsesChannel_EncryptedContentByteForByte()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithJson(FakeResponses.Response("gpt-5-2026", [FakeResponses.Item.Message("ok")])));
        const string Encrypted = "gAAAAABo+Zq1/3x+Yq==\u00e9";
        var body = $$"""
            {"model":"gpt-5","store":false,"include":["reasoning.encrypted_content"],"input":[
              {"type":"message","role":"user","content":[{"type":"input_text","text":"go"}]},
              {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"{{Encrypted}}"},
              {"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{}"},
              {"type":"function_call_output","call_id":"call_1","output":"done"}]}
            """;

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/responses", body, bearer: true));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(_upstream.Received().Single().Body, Does.Contain($"\"encrypted_content\":\"{Encrypted}\""), "OpenAI's proof goes back to OpenAI as the client sent it");
    }

    [Test]
    public async Task MessagesClient_ConvertedToResponses_AndBack()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithJson(FakeResponses.Response("gpt-5-2026",
            [FakeResponses.Item.Message("Reading."), FakeResponses.Item.FunctionCall("call_7", "Read", """{"file_path":"a.txt"}""")], inputTokens: 50, outputTokens: 6)));

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages",
            """{"model":"gpt-5","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"read a.txt"}],"tools":[{"name":"Read","input_schema":{"type":"object"}}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["model"]!.GetValue<string>(), Is.EqualTo("gpt-5"));
        Assert.That(json["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(json["content"]![1]!["id"]!.GetValue<string>(), Is.EqualTo("call_7"));
        Assert.That(json["usage"]!["output_tokens"]!.GetValue<int>(), Is.EqualTo(6));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/responses"));
        Assert.That(seen.Json!["instructions"]!.GetValue<string>(), Is.EqualTo("Be brief."));
        Assert.That(seen.Json["input"]![0]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("read a.txt"));
    }

    [Test]
    public async Task ChatCompletionsClient_ThroughTheHubToResponses_Streamed()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithEvents(_ => FakeResponses.Stream("gpt-5-2026", [FakeResponses.Item.Message("Hello there")])));
        var chat = new OpenAI.Chat.ChatClient("gpt-5", new ApiKeyCredential(TestGateway.AccessKey),
            new OpenAI.OpenAIClientOptions { Endpoint = new Uri(_gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

        var text = "";
        await foreach (var update in chat.CompleteChatStreamingAsync([new OpenAI.Chat.UserChatMessage("hi")]))
        {
            text += string.Concat(update.ContentUpdate.Select(p => p.Text));
        }

        Assert.That(text, Is.EqualTo("Hello there"));
        Assert.That(_upstream.Received().Single().Path, Is.EqualTo("/v1/responses"));
    }
}
