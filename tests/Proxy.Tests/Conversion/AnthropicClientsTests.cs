using System.Net;
using System.Text.Json.Nodes;
using Anthropic;
using Anthropic.Models.Messages;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using CcxProxy.Transforms.Conversion;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// Anthropic clients (the official C# SDK, Claude Code's own requests) against an OpenAI-protocol
/// channel: requests converted to Chat Completions, answers and streams converted back, errors in
/// Anthropic's shape, token counts estimated, keep-alives while the upstream is silent.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AnthropicClientsTests
{
    private WireMockServer _openai = null!;
    private WireMockServer _anthropic = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _openai = WireMockUpstream.StartProvider();
        _anthropic = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(
            new Dictionary<string, string>
            {
                ["deepseek.json"] = TestGateway.OpenAIChannel(_openai.BaseUrl(),
                    """ "models": ["claude-sonnet-*", "claude-haiku-*"], "modelMapping": { "sonnet": "deepseek-chat", "haiku": "deepseek-chat" }, "maxTokens": 8192, "passBackReasoning": true """),
                ["anthropic.json"] = TestGateway.AnthropicChannel(_anthropic.BaseUrl(), """ "models": ["claude-opus-*"] """),
            },
            new Dictionary<string, string?> { ["Proxy:StreamKeepAliveSeconds"] = "0.2" });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _openai.Dispose();
        _anthropic.Dispose();
    }

    private AnthropicClient Client() => new()
    {
        ApiKey = TestGateway.AccessKey,
        BaseUrl = _gateway.BaseUrl.GetLeftPart(UriPartial.Authority),
        MaxRetries = 0,
        Timeout = TimeSpan.FromSeconds(30),
    };

    private static IEnumerable<StreamStep> ToolCallStream() =>
    [
        FakeOpenAI.RoleChunk("deepseek-chat"),
        FakeOpenAI.ReasoningChunk("I should read it.", "deepseek-chat"),
        FakeOpenAI.TextChunk("Let me look.", "deepseek-chat"),
        FakeOpenAI.ToolCallChunk(0, "call_1", "Read", "{\"path\":", "deepseek-chat"),
        FakeOpenAI.ToolCallChunk(0, null, null, "\"a.txt\"}", "deepseek-chat"),
        FakeOpenAI.FinishChunk("tool_calls", "deepseek-chat"),
        FakeOpenAI.UsageChunk(120, 30, 100, "deepseek-chat"),
        FakeOpenAI.Done(),
    ];

    [Test]
    public async Task SdkStreaming_ToolUseFromOpenAIChannel_AggregatesToThinkingTextAndToolUse()
    {
        _openai.AnswerEveryRequest(Response.Create().WithEvents(_ => ToolCallStream()));
        using var client = Client();
        var parameters = new MessageCreateParams
        {
            Model = "claude-sonnet-4-6",
            MaxTokens = 32000,
            Messages = [new UserMessageParam { Content = "read a.txt" }],
            Tools = [new Tool { Name = "Read", InputSchema = new InputSchema { Properties = new Dictionary<string, System.Text.Json.JsonElement>() } }],
        };

        var message = await client.Messages.CreateStreaming(parameters).Aggregate().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(message.Model.Raw(), Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(message.Content, Has.Count.EqualTo(3));
        Assert.That(message.Content[0].TryPickThinking(out var thinking) && thinking!.Thinking == "I should read it.", Is.True);
        Assert.That(message.Content[1].TryPickText(out var text) && text!.Text == "Let me look.", Is.True);
        Assert.That(message.Content[2].TryPickToolUse(out var toolUse), Is.True);
        Assert.That(toolUse!.Name, Is.EqualTo("Read"));
        Assert.That(toolUse.Input["path"].GetString(), Is.EqualTo("a.txt"));
        Assert.That(message.StopReason!.Raw(), Is.EqualTo("tool_use"));
        Assert.That(message.Usage.OutputTokens, Is.EqualTo(30));
        Assert.That(message.Usage.InputTokens, Is.EqualTo(20), "input excludes the 100 cached tokens");
        Assert.That(message.Usage.CacheReadInputTokens, Is.EqualTo(100));

        var seen = _openai.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/chat/completions"));
        Assert.That(seen.QueryString, Is.Empty);
        Assert.That(seen.Header("authorization"), Is.EqualTo("Bearer " + FakeKeys.Upstream));
        Assert.That(seen.Header("x-api-key"), Is.Null);
        Assert.That(seen.Header("anthropic-version"), Is.Null);
        Assert.That(seen.Model, Is.EqualTo("deepseek-chat"));
        Assert.That(seen.Json!["max_tokens"]!.GetValue<int>(), Is.EqualTo(8192));
        Assert.That(seen.Json["stream_options"]!["include_usage"]!.GetValue<bool>(), Is.True);
        Assert.That(seen.Json["tools"]![0]!["function"]!["name"]!.GetValue<string>(), Is.EqualTo("Read"));
    }

    [Test]
    public async Task SdkNonStreaming_OpenAIChannel_AnswerConverted()
    {
        using var client = Client();

        var message = await client.Messages.Create(new MessageCreateParams
        {
            Model = "claude-haiku-4-5",
            MaxTokens = 100,
            Messages = [new UserMessageParam { Content = "hi" }],
        }).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(message.Model.Raw(), Is.EqualTo("claude-haiku-4-5"));
        Assert.That(message.Content.Single().TryPickText(out var text) && text!.Text == FakeUpstreamOptions.DefaultText, Is.True);
        Assert.That(message.StopReason!.Raw(), Is.EqualTo("end_turn"));
    }

    [Test]
    public async Task RecordedClaudeCodeRequests_ToOpenAIChannel_ConvertedWithoutAnthropicOnlyFields()
    {
        foreach (var version in RecordedRequests.ClaudeCodeVersions)
        {
            var recorded = RecordedRequests.ClaudeCodeFirstTurn(version);
            var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages?beta=true", recorded["body"]!.ToJsonString(), bearer: true));
            var events = SseText.Parse(await response.Content.ReadAsStringAsync());

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), version);
            Assert.That(events.Last().Type, Is.EqualTo("message_stop"), version);
            var sent = _openai.Received()[^1].Json!.AsObject();
            var text = sent.ToJsonString();
            Assert.That(text, Does.Not.Contain("x-anthropic-billing-header"), version);
            Assert.That(text, Does.Not.Contain("cache_control").And.Not.Contain("context_management").And.Not.Contain("$schema").And.Not.Contain("defer_loading"), version);
            Assert.That(sent["messages"]![0]!["role"]!.GetValue<string>(), Is.EqualTo("system"), version);
            Assert.That(sent["reasoning_effort"]!.GetValue<string>(), Is.EqualTo("high"), version);
            Assert.That(sent["max_tokens"]!.GetValue<int>(), Is.EqualTo(8192), version);
            Assert.That(sent["tools"]!.AsArray(), Is.Not.Empty, version);
        }
    }

    [Test]
    public async Task CountTokens_OpenAIChannel_LocalEstimateNot404()
    {
        var body = RecordedRequests.ClaudeCodeFirstTurn("2.1.197")["body"]!.AsObject();
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages/count_tokens?beta=true",
            new JsonObject { ["model"] = "claude-sonnet-4-6", ["messages"] = body["messages"]!.DeepClone(), ["system"] = body["system"]!.DeepClone() }.ToJsonString()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["input_tokens"]!.GetValue<long>(), Is.GreaterThan(1000));
        Assert.That(response.Headers.GetValues("x-ccx-token-count").Single(), Is.EqualTo("estimate"));
        Assert.That(_openai.Received(), Is.Empty);
    }

    [Test]
    public async Task CountTokens_OpenAIChannel_MessagesNotAnArray_400NotA500()
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages/count_tokens",
            """{"model":"claude-sonnet-4-6","messages":"not a list"}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("invalid_request_error"));
    }

    [Test]
    public async Task OpenAIUpstreamErrors_AnthropicShapedForTheClient()
    {
        _openai.AnswerEveryRequest(Response.Create().WithStatusCode(429).WithJson(FakeOpenAI.ErrorBody("insufficient_quota", "You exceeded your current quota", "insufficient_quota")));

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages", """{"model":"claude-sonnet-4-6","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo((HttpStatusCode)402));
        Assert.That(json!["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(json["error"]!["type"]!.GetValue<string>(), Is.EqualTo("billing_error"));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Is.EqualTo("You exceeded your current quota"));
    }

    [Test]
    public async Task SilentUpstream_ClientGetsMessageStartAtOnceThenPings()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _openai.AnswerEveryRequest(Response.Create().WithEvents(_ => [
            StreamStep.Wait(gate.Task),
            FakeOpenAI.TextChunk("finally", "deepseek-chat"),
            FakeOpenAI.FinishChunk("stop", "deepseek-chat"),
            FakeOpenAI.Done(),
        ]));

        var request = _gateway.Post("/v1/messages", """{"model":"claude-sonnet-4-6","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}""");
        using var response = await _gateway.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        // message_start goes out as soon as the upstream answers, before any token (docs/protocols.md §8 #24) ...
        Assert.That(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo("event: message_start"));
        await reader.ReadLineAsync();
        await reader.ReadLineAsync();
        // ... then keep-alives while the upstream stays silent.
        Assert.That(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo("event: ping"));

        gate.SetResult();
        var rest = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(rest, Does.Contain("finally"));
        Assert.That(rest.TrimEnd(), Does.EndWith("data: {\"type\":\"message_stop\"}"));
    }

    [Test]
    public async Task ThinkingMadeFromReasoning_StrippedWhenTheConversationReachesAnthropic()
    {
        _openai.AnswerEveryRequest(Response.Create().WithEvents(_ => ToolCallStream()));
        var first = await _gateway.SendAsync(_gateway.Post("/v1/messages",
            """{"model":"claude-sonnet-4-6","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"read a.txt"}]}"""));
        var events = SseText.Parse(await first.Response.Content.ReadAsStringAsync());
        var signature = events.Where(e => e.Type == "content_block_delta").Select(e => JsonNode.Parse(e.Data)!["delta"]!)
            .Where(d => d["type"]!.GetValue<string>() == "signature_delta").Select(d => d["signature"]!.GetValue<string>()).Single();
        Assert.That(GatewayThinking.IsGatewayMade(signature), Is.True);

        // The same conversation, continued on the Anthropic channel (Claude Code replays its history).
        var history = new JsonObject
        {
            ["model"] = "claude-opus-4-7",
            ["max_tokens"] = 100,
            ["thinking"] = new JsonObject { ["type"] = "adaptive" },
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = "read a.txt" },
                new JsonObject
                {
                    ["role"] = "assistant",
                    ["content"] = new JsonArray(
                        new JsonObject { ["type"] = "thinking", ["thinking"] = "I should read it.", ["signature"] = signature },
                        new JsonObject { ["type"] = "tool_use", ["id"] = "call_1", ["name"] = "Read", ["input"] = new JsonObject { ["path"] = "a.txt" } }),
                },
                new JsonObject { ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = "call_1", ["content"] = "1" }) }),
        };
        var (second, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", history.ToJsonString()));

        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var sent = _anthropic.Received().Single().Json!;
        Assert.That(sent.ToJsonString(), Does.Not.Contain(GatewayThinking.SignaturePrefix));
        Assert.That(sent["messages"]![1]!["content"]!.AsArray().Select(b => b!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "tool_use" }));
        Assert.That(sent.AsObject().ContainsKey("thinking"), Is.False, "thinking off: the last assistant turn has no valid thinking block");
    }

    [Test]
    public async Task AttributionBlock_StrippedForNonAnthropicHosts_KeptWhenTheChannelSaysSo()
    {
        await _gateway.WriteChannelAsync("anthropic.json", TestGateway.AnthropicChannel(_anthropic.BaseUrl(),
            """ "models": ["claude-opus-*"], "stripClaudeCodeAttribution": false """));
        await _gateway.WriteChannelAsync("compatible.json", TestGateway.AnthropicChannel(_anthropic.BaseUrl(),
            """ "models": ["claude-compatible-*"] """));
        var body = RecordedRequests.ClaudeCodeFirstTurn("2.1.330")["body"]!.AsObject();

        await WaitForChannelAsync("compatible");

        foreach (var (model, expectBlock) in new[] { ("claude-opus-4-7", true), ("claude-compatible-1", false) })
        {
            body["model"] = model;
            var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages?beta=true", body.ToJsonString()));

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), model);
            var sent = _anthropic.Received()[^1];
            Assert.That(sent.Model, Is.EqualTo(model));
            Assert.That(sent.Body.Contains("x-anthropic-billing-header", StringComparison.Ordinal), Is.EqualTo(expectBlock), model);
        }
    }

    private async Task WaitForChannelAsync(string name)
    {
        for (var i = 0; i < 100; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
            request.Headers.Add("x-api-key", TestGateway.AdminKey);
            using var response = await _gateway.Client.SendAsync(request);
            var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            if (status["channels"]!.AsArray().Any(c => c!["name"]!.GetValue<string>() == name))
            {
                return;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"channel {name} never went live");
    }
}
