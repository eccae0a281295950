using System.Diagnostics;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Clients;

/// <summary>
/// The real Claude Code CLI (installed by test.sh at two pinned versions) completes a turn through the
/// gateway: it asks the model, the model calls the Read tool, the CLI runs it and sends the result
/// back, and the model's final answer is printed. Offline: the upstream is the fake one, HOME is a
/// temporary folder, and non-essential traffic is off.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ClaudeCodeCliTests
{
    private const string Secret = "the-password-is-swordfish-42";

    [TestCase("2.1.197")]
    [TestCase("2.1.330")]
    [CancelAfter(180_000)]
    public async Task ClaudePrint_ToolCallTurn_CompletesThroughGateway(string version)
    {
        var (cli, work, home, file) = await PrepareAsync(version);

        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request => ScriptedModel(request, file)));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(),
                """ "modelMapping": { "sonnet": "fake-sonnet", "haiku": "fake-haiku", "opus": "fake-opus" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl,
            ["-p", "Read note.txt and tell me what it says.", "--model", "claude-sonnet-4-6", "--allowedTools", "Read", "--output-format", "text"]);

        var transcript = $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}\nupstream saw:\n" +
            string.Join("\n", upstream.Received().Select(r => $"{r.Method} {r.Path}{r.QueryString} model={r.Model}"));
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(stdout, Does.Contain("The note says: " + Secret), transcript);

        // The tool result went back through the gateway with the file's content, under the mapped model.
        var followUp = upstream.Received().Where(r => r.Path == "/v1/messages" && HasToolResult(r)).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret));
        Assert.That(followUp[0].Model, Is.EqualTo("fake-sonnet"));
        Assert.That(followUp[0].Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
        Assert.That(upstream.Received().SelectMany(r => r.Headers.Values), Has.None.Contains(TestGateway.AccessKey));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task ClaudePrint_FirstChannelDown_TurnCompletesOnTheNextOne()
    {
        const string Version = "2.1.330";
        var (cli, work, home, file) = await PrepareAsync(Version);

        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request => ScriptedModel(request, file)));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            // The preferred channel's host refuses connections; the next one is healthy.
            ["a-down.json"] = TestGateway.AnthropicChannel(FreePort.ClosedUrl(), """ "priority": 0 """),
            ["b-up.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(), """ "priority": 1, "modelMapping": { "sonnet": "fake-sonnet" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl,
            ["-p", "Read note.txt and tell me what it says.", "--model", "claude-sonnet-4-6", "--allowedTools", "Read", "--output-format", "text"]);

        var transcript = $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}";
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(stdout, Does.Contain("The note says: " + Secret), transcript);
        Assert.That(upstream.Received().Where(r => r.Path == "/v1/messages" && HasToolResult(r)), Is.Not.Empty, transcript);
        Assert.That(gateway.Logs.All, Does.Contain("trying channel b-up"));
    }

    [TestCase("2.1.197")]
    [TestCase("2.1.330")]
    [CancelAfter(180_000)]
    public async Task ClaudePrint_ToolCallTurn_CompletesThroughOpenAIChannel(string version)
    {
        var (cli, work, home, file) = await PrepareAsync(version);

        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request => ScriptedOpenAIModel(request, file)));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["deepseek.json"] = TestGateway.OpenAIChannel(upstream.BaseUrl(),
                """ "modelMapping": { "sonnet": "deepseek-chat", "haiku": "deepseek-chat", "opus": "deepseek-reasoner" }, "maxTokens": 8192, "passBackReasoning": true """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl,
            ["-p", "Read note.txt and tell me what it says.", "--model", "claude-sonnet-4-6", "--allowedTools", "Read", "--output-format", "text"]);

        var transcript = $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}\nupstream saw:\n" +
            string.Join("\n", upstream.Received().Select(r => $"{r.Method} {r.Path}{r.QueryString} model={r.Model}"));
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(stdout, Does.Contain("The note says: " + Secret), transcript);

        var chat = upstream.Received().Where(r => r.Path == "/v1/chat/completions").ToList();
        Assert.That(chat, Is.Not.Empty, transcript);
        Assert.That(chat.All(r => r.Header("authorization") == "Bearer " + FakeKeys.Upstream), Is.True);
        Assert.That(chat.All(r => r.Model == "deepseek-chat"), Is.True, transcript);
        Assert.That(chat.All(r => !r.Body.Contains("x-anthropic-billing-header", StringComparison.Ordinal)), Is.True);
        var followUp = chat.Single(HasOpenAIToolResult);
        Assert.That(followUp.Body, Does.Contain(Secret));
        // The assistant turn that made the call went back with its reasoning (passBackReasoning, DeepSeek's rule).
        var assistant = followUp.Json!["messages"]!.AsArray().Last(m => m!["role"]!.GetValue<string>() == "assistant")!;
        Assert.That(assistant["tool_calls"]![0]!["function"]!["name"]!.GetValue<string>(), Is.EqualTo("Read"));
        Assert.That(assistant["reasoning_content"]?.GetValue<string>(), Is.EqualTo("I will read the note."));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task ClaudePrint_ToolCallTurn_CompletesThroughAResponsesChannel()
    {
        var (cli, work, home, file) = await PrepareAsync("2.1.330");

        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request => ScriptedResponsesModel(request, file)));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["openai.json"] = TestGateway.ResponsesChannel(upstream.BaseUrl(), """ "modelMapping": { "sonnet": "gpt-5-2026", "haiku": "gpt-5-mini" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl,
            ["-p", "Read note.txt and tell me what it says.", "--model", "claude-sonnet-4-6", "--allowedTools", "Read", "--output-format", "text"]);

        var transcript = $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}\nupstream saw:\n" +
            string.Join("\n", upstream.Received().Select(r => $"{r.Method} {r.Path} model={r.Model}"));
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(stdout, Does.Contain("The note says: " + Secret), transcript);
        var followUp = upstream.Received().Where(r => r.Path == "/v1/responses" && HasResponsesToolOutput(r)).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret), "the Read tool's result went back as the function_call_output");
        Assert.That(followUp[0].Model, Is.EqualTo("gpt-5-2026"));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task ClaudePrint_ToolCallTurn_CompletesThroughAGeminiChannel_SignatureBackOnTheCall()
    {
        var (cli, work, home, file) = await PrepareAsync("2.1.330");

        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request => ScriptedGeminiModel(request, file)));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["google.json"] = TestGateway.GeminiChannel(upstream.BaseUrl(), """ "modelMapping": { "sonnet": "gemini-2.5-pro", "haiku": "gemini-2.5-flash" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl,
            ["-p", "Read note.txt and tell me what it says.", "--model", "claude-sonnet-4-6", "--allowedTools", "Read", "--output-format", "text"]);

        var transcript = $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}\nupstream saw:\n" +
            string.Join("\n", upstream.Received().Select(r => $"{r.Method} {r.Path}{r.QueryString}"));
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(stdout, Does.Contain("The note says: " + Secret), transcript);
        var followUp = upstream.Received().Where(r => r.Path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent" && HasFunctionResponse(r)).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret), "the Read tool's result went back as the functionResponse");
        var call = followUp[0].Json!["contents"]!.AsArray().SelectMany(c => c!["parts"]!.AsArray()).Single(p => p!["functionCall"] is not null)!;
        Assert.That(call["thoughtSignature"]!.GetValue<string>(), Is.EqualTo(GeminiSignature), "Gemini's signature rode through Claude Code and came back on its call");
    }

    private const string GeminiSignature = "CiQBjz1rX+/Zz9k0Rw==claude";

    /// <summary>The same script, played by Google's Gemini API.</summary>
    private static StockAnswer ScriptedGeminiModel(RecordedRequest request, string file)
    {
        if (!request.Path.StartsWith("/v1beta/models/", StringComparison.Ordinal))
        {
            return StockAnswer.OfJson(404, FakeGemini.Error(404, "not served by this fake", "NOT_FOUND"));
        }

        IReadOnlyList<FakeGemini.Part> parts;
        if (HasFunctionResponse(request))
        {
            parts = [FakeGemini.Part.Say("The note says: " + (request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing"))];
        }
        else if (request.Body.Contains("\"name\":\"Read\"", StringComparison.Ordinal))
        {
            parts = [FakeGemini.Part.Call("Read", new JsonObject { ["file_path"] = file }.ToJsonString(), signature: GeminiSignature)];
        }
        else
        {
            parts = [FakeGemini.Part.Say("ok")];
        }

        return request.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal)
            ? StockAnswer.OfStream(FakeGemini.Stream(parts))
            : StockAnswer.OfJson(200, FakeGemini.Response(parts));
    }

    private static bool HasFunctionResponse(RecordedRequest request) => request.Body.Contains("\"functionResponse\"", StringComparison.Ordinal);

    /// <summary>The same script, played by an OpenAI Responses upstream.</summary>
    private static StockAnswer ScriptedResponsesModel(RecordedRequest request, string file)
    {
        if (!request.Path.EndsWith("/responses", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        var model = request.Model ?? "gpt-5-2026";
        IReadOnlyList<FakeResponses.Item> items;
        if (HasResponsesToolOutput(request))
        {
            items = [FakeResponses.Item.Message("The note says: " + (request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing"))];
        }
        else if (request.Json!["tools"] is JsonArray tools && tools.Any(t => t?["name"]?.GetValue<string>() == "Read"))
        {
            items = [FakeResponses.Item.FunctionCall("call_read_1", "Read", new JsonObject { ["file_path"] = file }.ToJsonString())];
        }
        else
        {
            items = [FakeResponses.Item.Message("ok")];
        }

        return request.IsStream ? StockAnswer.OfStream(FakeResponses.Stream(model, items)) : StockAnswer.OfJson(200, FakeResponses.Response(model, items));
    }

    private static bool HasResponsesToolOutput(RecordedRequest request) =>
        request.Json?["input"] is JsonArray input && input.Any(i => i?["type"]?.GetValue<string>() == "function_call_output");

    /// <summary>The pinned CLI (it must be installed), a working folder holding note.txt with the secret, and an empty HOME.</summary>
    private static async Task<(string Cli, string Work, string Home, string File)> PrepareAsync(string version)
    {
        var cli = RepoPaths.ClaudeCli(version);
        Assert.That(File.Exists(cli), Is.True, $"Claude Code {version} is not installed: run ./test.sh (tools/install-test-deps.sh) first");
        var work = Directory.CreateTempSubdirectory("ccx-claude-").FullName;
        var home = Directory.CreateTempSubdirectory("ccx-claude-home-").FullName;
        var file = Path.Combine(work, "note.txt");
        await File.WriteAllTextAsync(file, Secret + "\n");
        return (cli, work, home, file);
    }

    /// <summary>The same script as <see cref="ScriptedModel"/>, played by an OpenAI Chat Completions upstream.</summary>
    private static StockAnswer ScriptedOpenAIModel(RecordedRequest request, string file)
    {
        if (!request.Path.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        const string Model = "deepseek-chat";
        if (HasOpenAIToolResult(request))
        {
            var content = request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
            return StockAnswer.OfStream(
            [
                FakeOpenAI.RoleChunk(Model), FakeOpenAI.TextChunk("The note says: ", Model), FakeOpenAI.TextChunk(content, Model),
                FakeOpenAI.FinishChunk("stop", Model), FakeOpenAI.UsageChunk(50, 8, 0, Model), FakeOpenAI.Done(),
            ]);
        }

        var offersRead = request.Json!["tools"] is JsonArray tools && tools.Any(t => t?["function"]?["name"]?.GetValue<string>() == "Read");
        if (offersRead && request.IsStream)
        {
            var args = new JsonObject { ["file_path"] = file }.ToJsonString();
            return StockAnswer.OfStream(
            [
                FakeOpenAI.RoleChunk(Model), FakeOpenAI.ReasoningChunk("I will read the note.", Model),
                FakeOpenAI.ToolCallChunk(0, "call_read_1", "Read", args[..10], Model),
                FakeOpenAI.ToolCallChunk(0, null, null, args[10..], Model),
                FakeOpenAI.FinishChunk("tool_calls", Model), FakeOpenAI.UsageChunk(900, 20, 0, Model), FakeOpenAI.Done(),
            ]);
        }

        return request.IsStream
            ? StockAnswer.OfStream(FakeOpenAI.TextStream(Model, "ok", 1, includeUsage: true))
            : StockAnswer.OfJson(200, FakeOpenAI.ChatCompletion(Model, "ok"));
    }

    private static bool HasOpenAIToolResult(RecordedRequest request) =>
        request.Json?["messages"] is JsonArray messages && messages.Any(m => m?["role"]?.GetValue<string>() == "tool");

    /// <summary>
    /// Plays the model: the main turn (it offers the Read tool) gets a tool call; the turn carrying the tool
    /// result gets the final answer; anything else Claude Code asks (titles, checks) gets a short text.
    /// </summary>
    private static StockAnswer ScriptedModel(RecordedRequest request, string file)
    {
        if (request.Path != "/v1/messages")
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        var model = request.Model ?? "fake";
        if (HasToolResult(request))
        {
            var result = request.Json!["messages"]!.AsArray().Last()!.ToJsonString();
            var content = result.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
            return Answer(request, FakeAnthropic.TextStream(model, "The note says: " + content, 3),
                [FakeAnthropic.TextBlock("The note says: " + content)], "end_turn");
        }

        var offersRead = request.Json!["tools"] is JsonArray tools && tools.Any(t => t?["name"]?.GetValue<string>() == "Read");
        if (offersRead)
        {
            var input = new JsonObject { ["file_path"] = file };
            return Answer(request, FakeAnthropic.ToolUseStream(model, "toolu_01", "Read", input),
                [FakeAnthropic.ToolUseBlock("toolu_01", "Read", (JsonObject)input.DeepClone())], "tool_use");
        }

        return Answer(request, FakeAnthropic.TextStream(model, "ok", 1), [FakeAnthropic.TextBlock("ok")], "end_turn");
    }

    private static StockAnswer Answer(RecordedRequest request, IEnumerable<StreamStep> stream, IEnumerable<JsonObject> blocks, string stopReason) =>
        request.IsStream
            ? StockAnswer.OfStream(stream)
            : StockAnswer.OfJson(200, FakeAnthropic.Message(request.Model ?? "fake", blocks, stopReason));

    private static bool HasToolResult(RecordedRequest request) =>
        request.Json?["messages"] is JsonArray messages
        && messages.LastOrDefault()?["content"] is JsonArray content
        && content.Any(block => block?["type"]?.GetValue<string>() == "tool_result");

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string cli, string workingDirectory, string home, Uri gateway, string[] args)
    {
        var start = new ProcessStartInfo(cli)
        {
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // A clean environment: nothing of the machine's own Anthropic settings may leak in.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("ANTHROPIC_", StringComparison.Ordinal) || k.StartsWith("CLAUDE", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["HOME"] = home;
        start.Environment["ANTHROPIC_BASE_URL"] = gateway.ToString().TrimEnd('/');
        start.Environment["ANTHROPIC_AUTH_TOKEN"] = TestGateway.AccessKey;
        start.Environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
        start.Environment["DISABLE_AUTOUPDATER"] = "1";
        start.Environment["DISABLE_TELEMETRY"] = "1";
        start.Environment["DISABLE_ERROR_REPORTING"] = "1";

        return await CliProcess.RunAsync(start, TimeSpan.FromSeconds(120));
    }
}
