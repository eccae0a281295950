using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Clients;

/// <summary>
/// The real Codex CLI (installed by test.sh, pinned) completes a tool turn through the gateway over the OpenAI
/// Responses API: it asks the model, the model calls Codex's <c>exec_command</c> tool, Codex runs the command and
/// sends its output back with the whole history, and the model's answer is printed: through an anthropic, an openai
/// (Chat Completions), a responses and a gemini channel. Offline: the upstream is the
/// fake one, <c>CODEX_HOME</c> and <c>HOME</c> are temporary folders holding only the provider block.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class CodexCliTests
{
    private const string Version = "0.171.0";
    private const string Secret = "the-password-is-swordfish-42";

    [Test]
    [CancelAfter(180_000)]
    public async Task CodexExec_ToolTurn_CompletesThroughAnAnthropicChannel()
    {
        var (cli, work, home) = await PrepareAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(ScriptedAnthropicModel));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(), """ "modelMapping": { "sonnet": "fake-sonnet" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl, "claude-sonnet-4-6");

        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(FinalMessage(stdout), Does.Contain("The note says: " + Secret), transcript);
        var followUp = upstream.Received().Where(r => r.Path == "/v1/messages" && HasAnthropicToolResult(r)).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret), "the command's output went back as the tool result");
        Assert.That(followUp[0].Model, Is.EqualTo("fake-sonnet"));
        Assert.That(upstream.Received().SelectMany(r => r.Headers.Values), Has.None.Contains(TestGateway.AccessKey));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task CodexExec_ToolTurn_CompletesThroughAnOpenAIChatChannel()
    {
        var (cli, work, home) = await PrepareAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(ScriptedChatModel));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["deepseek.json"] = TestGateway.OpenAIChannel(upstream.BaseUrl(), """ "models": ["gpt-*"], "modelMapping": { "gpt-5": "deepseek-chat" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl, "gpt-5");

        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(FinalMessage(stdout), Does.Contain("The note says: " + Secret), transcript);
        var chat = upstream.Received().Where(r => r.Path == "/v1/chat/completions").ToList();
        Assert.That(chat.All(r => r.Model == "deepseek-chat"), Is.True, transcript);
        var followUp = chat.Where(HasChatToolResult).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret));
        var assistant = followUp[0].Json!["messages"]!.AsArray().Last(m => m!["role"]!.GetValue<string>() == "assistant")!;
        Assert.That(assistant["tool_calls"]![0]!["function"]!["name"]!.GetValue<string>(), Is.EqualTo("exec_command"));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task CodexExec_ToolTurn_CompletesThroughAResponsesChannel()
    {
        var (cli, work, home) = await PrepareAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(ScriptedResponsesModel));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["openai.json"] = TestGateway.ResponsesChannel(upstream.BaseUrl(), """ "models": ["gpt-*"], "modelMapping": { "gpt-5": "gpt-5-2026" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl, "gpt-5");

        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(FinalMessage(stdout), Does.Contain("The note says: " + Secret), transcript);
        var turns = upstream.Received().Where(r => r.Path == "/v1/responses").ToList();
        Assert.That(turns.All(r => r.Model == "gpt-5-2026"), Is.True, transcript);
        var followUp = turns.Where(HasResponsesToolOutput).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret), "the command's output went back as the function_call_output");
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task CodexExec_ToolTurn_CompletesThroughAGeminiChannel()
    {
        var (cli, work, home) = await PrepareAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(ScriptedGeminiModel));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["google.json"] = TestGateway.GeminiChannel(upstream.BaseUrl(), """ "models": ["gpt-*"], "modelMapping": { "gpt-5": "gemini-2.5-pro" } """),
        });

        var (exit, stdout, stderr) = await RunAsync(cli, work, home, gateway.BaseUrl, "gpt-5");

        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(FinalMessage(stdout), Does.Contain("The note says: " + Secret), transcript);
        var turns = upstream.Received().Where(r => r.Path == "/v1beta/models/gemini-2.5-pro:streamGenerateContent").ToList();
        var followUp = turns.Where(r => r.Body.Contains("\"functionResponse\"", StringComparison.Ordinal)).ToList();
        Assert.That(followUp, Is.Not.Empty, transcript);
        Assert.That(followUp[0].Body, Does.Contain(Secret), "the command's output went back as the functionResponse");
        Assert.That(followUp[0].Body, Does.Not.Contain("c2lnbmF0dXJl"), "Gemini's proof stays behind when the conversation passes through another family");
        Assert.That(followUp[0].Body, Does.Contain("\"thoughtSignature\":\"skip_thought_signature_validator\""), "and the call goes back with Google's marker for such history");
    }

    private static StockAnswer ScriptedGeminiModel(RecordedRequest request)
    {
        if (!request.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal))
        {
            return StockAnswer.OfJson(404, FakeGemini.Error(404, "not served by this fake", "NOT_FOUND"));
        }

        var content = request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
        return StockAnswer.OfStream(request.Body.Contains("\"functionResponse\"", StringComparison.Ordinal)
            ? FakeGemini.Stream([FakeGemini.Part.Say("The note says: " + content)])
            : FakeGemini.Stream([FakeGemini.Part.Call("exec_command", new JsonObject { ["cmd"] = "cat note.txt" }.ToJsonString(), signature: "c2lnbmF0dXJl")]));
    }

    private static StockAnswer ScriptedResponsesModel(RecordedRequest request)
    {
        if (!request.Path.EndsWith("/responses", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        const string Model = "gpt-5-2026";
        if (HasResponsesToolOutput(request))
        {
            var content = request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
            return StockAnswer.OfStream(FakeResponses.Stream(Model, [FakeResponses.Item.Message("The note says: " + content)], id: "resp_up2"));
        }

        return StockAnswer.OfStream(FakeResponses.Stream(Model,
            [FakeResponses.Item.FunctionCall("call_1", "exec_command", new JsonObject { ["cmd"] = "cat note.txt" }.ToJsonString())], id: "resp_up1"));
    }

    private static bool HasResponsesToolOutput(RecordedRequest request) =>
        request.Json?["input"] is JsonArray input && input.Any(i => i?["type"]?.GetValue<string>() == "function_call_output");

    private static string Transcript(int exit, string stdout, string stderr, IEnumerable<RecordedRequest> received) =>
        $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}\nupstream saw:\n" +
        string.Join("\n", received.Select(r => $"{r.Method} {r.Path} model={r.Model}\n  {r.Body[..Math.Min(600, r.Body.Length)]}"));

    /// <summary>The text of the last agent message in <c>codex exec --json</c>'s event lines.</summary>
    private static string FinalMessage(string jsonLines)
    {
        var text = "";
        foreach (var line in jsonLines.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.TrimStart().StartsWith('{') && JsonNode.Parse(line) is JsonObject e
                && e["item"] is JsonObject item && item["type"]?.GetValue<string>() == "agent_message")
            {
                text = item["text"]?.GetValue<string>() ?? text;
            }
        }

        return text;
    }

    /// <summary>The model's side: a command first, the answer once the command's output is back.</summary>
    private static StockAnswer ScriptedAnthropicModel(RecordedRequest request)
    {
        if (request.Path != "/v1/messages")
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        var model = request.Model ?? "fake";
        if (HasAnthropicToolResult(request))
        {
            var content = request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
            return request.IsStream
                ? StockAnswer.OfStream(FakeAnthropic.TextStream(model, "The note says: " + content, 3))
                : StockAnswer.OfJson(200, FakeAnthropic.Message(model, [FakeAnthropic.TextBlock("The note says: " + content)], "end_turn"));
        }

        var input = new JsonObject { ["cmd"] = "cat note.txt" };
        return request.IsStream
            ? StockAnswer.OfStream(FakeAnthropic.ToolUseStream(model, "toolu_01", "exec_command", input))
            : StockAnswer.OfJson(200, FakeAnthropic.Message(model, [FakeAnthropic.ToolUseBlock("toolu_01", "exec_command", input)], "tool_use"));
    }

    private static StockAnswer ScriptedChatModel(RecordedRequest request)
    {
        if (!request.Path.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        const string Model = "deepseek-chat";
        if (HasChatToolResult(request))
        {
            var content = request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing";
            return StockAnswer.OfStream(
            [
                FakeOpenAI.RoleChunk(Model), FakeOpenAI.TextChunk("The note says: ", Model), FakeOpenAI.TextChunk(content, Model),
                FakeOpenAI.FinishChunk("stop", Model), FakeOpenAI.UsageChunk(50, 8, 0, Model), FakeOpenAI.Done(),
            ]);
        }

        var args = new JsonObject { ["cmd"] = "cat note.txt" }.ToJsonString();
        return StockAnswer.OfStream(
        [
            FakeOpenAI.RoleChunk(Model),
            FakeOpenAI.ToolCallChunk(0, "call_1", "exec_command", args[..8], Model),
            FakeOpenAI.ToolCallChunk(0, null, null, args[8..], Model),
            FakeOpenAI.FinishChunk("tool_calls", Model), FakeOpenAI.UsageChunk(900, 20, 0, Model), FakeOpenAI.Done(),
        ]);
    }

    private static bool HasAnthropicToolResult(RecordedRequest request) =>
        request.Json?["messages"] is JsonArray messages
        && messages.LastOrDefault()?["content"] is JsonArray content
        && content.Any(block => block?["type"]?.GetValue<string>() == "tool_result");

    private static bool HasChatToolResult(RecordedRequest request) =>
        request.Json?["messages"] is JsonArray messages && messages.Any(m => m?["role"]?.GetValue<string>() == "tool");

    /// <summary>The pinned CLI (it must be installed), a working folder holding note.txt, and an empty home.</summary>
    private static async Task<(string Cli, string Work, string Home)> PrepareAsync()
    {
        var cli = RepoPaths.CodexCli(Version);
        Assert.That(File.Exists(cli), Is.True, $"the Codex CLI {Version} is not installed: run ./test.sh (tools/install-test-deps.sh) first");
        var work = Directory.CreateTempSubdirectory("ccx-codex-").FullName;
        var home = Directory.CreateTempSubdirectory("ccx-codex-home-").FullName;
        await File.WriteAllTextAsync(Path.Combine(work, "note.txt"), Secret + "\n");
        return (cli, work, home);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string cli, string work, string home, Uri gateway, string model)
    {
        // The provider block docs/clients.md shows, pointing at the gateway.
        await File.WriteAllTextAsync(Path.Combine(home, "config.toml"), string.Create(CultureInfo.InvariantCulture, $"""
            model = "{model}"
            model_provider = "ccx"

            [model_providers.ccx]
            name = "ccx-proxy"
            base_url = "{gateway.ToString().TrimEnd('/')}/v1"
            env_key = "CCX_KEY"
            wire_api = "responses"
            """));
        var start = new ProcessStartInfo(cli)
        {
            WorkingDirectory = work,
        };
        foreach (var arg in (string[])["exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "Read note.txt and tell me what it says."])
        {
            start.ArgumentList.Add(arg);
        }

        // A clean environment: nothing of the machine's own OpenAI or Codex settings may leak in.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("OPENAI_", StringComparison.Ordinal) || k.StartsWith("CODEX_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["HOME"] = home;
        start.Environment["CODEX_HOME"] = home;
        start.Environment["CCX_KEY"] = TestGateway.AccessKey;

        return await CliProcess.RunAsync(start, TimeSpan.FromSeconds(120));
    }
}
