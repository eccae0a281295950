using System.Diagnostics;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Clients;

/// <summary>
/// The real Gemini CLI (installed by test.sh, pinned) completes a tool turn through the gateway over Gemini's
/// <c>streamGenerateContent</c>: the model calls the CLI's <c>run_shell_command</c>, the CLI runs it and sends its output
/// back with the whole history, and the model's answer is printed, through each of the four channel types. Set up as
/// docs/clients.md says: <c>GOOGLE_GEMINI_BASE_URL</c> = the gateway's root, <c>GEMINI_API_KEY</c> = a gateway key, the
/// <c>gemini-api-key</c> auth setting. Offline: a temporary HOME with only that setting (usage statistics and
/// telemetry off, so nothing else is called), and the fake upstream.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GeminiCliTests
{
    private const string Version = "0.61.0";
    private const string Secret = "the-password-is-swordfish-42";
    private const string Signature = "CiQBjz1rX+/Zz9k0Rw==proof";
    private const string Command = "cat note.txt";

    [Test]
    [CancelAfter(180_000)]
    public async Task GeminiCli_ToolTurn_CompletesThroughAGeminiChannel_SignatureBackByteForByte()
    {
        var (upstream, exit, stdout, stderr) = await RunThroughAsync(TestGateway.GeminiChannel, ScriptedGeminiModel, "gemini-2.5-flash");
        using var _ = upstream;
        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(Answer(stdout), Does.Contain("The note says: " + Secret), transcript);
        var turns = upstream.Received().Where(r => r.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal)).ToList();
        Assert.That(turns.Select(r => r.Path).Distinct(), Is.EqualTo(new[] { "/v1beta/models/gemini-2.5-flash-upstream:streamGenerateContent" }), transcript);
        var followUp = turns.Single(HasFunctionResponse);
        Assert.That(followUp.Body, Does.Contain(Secret), "the command's output went back as the functionResponse");
        Assert.That(followUp.Body, Does.Contain($"\"thoughtSignature\":\"{Signature}\""), "the signature came back as Google gave it");
        Assert.That(upstream.Received().SelectMany(r => r.Headers.Values), Has.None.Contains(TestGateway.AccessKey));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task GeminiCli_ToolTurn_CompletesThroughAnAnthropicChannel()
    {
        var (upstream, exit, stdout, stderr) = await RunThroughAsync(TestGateway.AnthropicChannel, ScriptedAnthropicModel, "gemini-2.5-flash");
        using var _ = upstream;
        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(Answer(stdout), Does.Contain("The note says: " + Secret), transcript);
        var followUp = upstream.Received().Where(r => r.Path == "/v1/messages").Single(r => r.Body.Contains("tool_result", StringComparison.Ordinal));
        Assert.That(followUp.Body, Does.Contain(Secret));
        Assert.That(followUp.Model, Is.EqualTo("gemini-2.5-flash-upstream"));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task GeminiCli_ToolTurn_CompletesThroughAnOpenAIChatChannel()
    {
        var (upstream, exit, stdout, stderr) = await RunThroughAsync(TestGateway.OpenAIChannel, ScriptedChatModel, "gemini-2.5-flash");
        using var _ = upstream;
        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(Answer(stdout), Does.Contain("The note says: " + Secret), transcript);
        Assert.That(upstream.Received().Where(r => r.Path == "/v1/chat/completions").Single(HasChatToolResult).Body, Does.Contain(Secret));
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task GeminiCli_ToolTurn_CompletesThroughAResponsesChannel()
    {
        var (upstream, exit, stdout, stderr) = await RunThroughAsync(TestGateway.ResponsesChannel, ScriptedResponsesModel, "gemini-2.5-flash");
        using var _ = upstream;
        var transcript = Transcript(exit, stdout, stderr, upstream.Received());
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(Answer(stdout), Does.Contain("The note says: " + Secret), transcript);
        Assert.That(upstream.Received().Where(r => r.Path == "/v1/responses").Single(HasResponsesToolOutput).Body, Does.Contain(Secret));
    }

    // A fake upstream answering as the model, a gateway with one channel of the given type mapping the CLI's model to
    // "<model>-upstream", and the CLI run against it. The caller disposes the upstream.
    private static async Task<(WireMock.Server.WireMockServer Upstream, int Exit, string Stdout, string Stderr)> RunThroughAsync(
        Func<Uri, string, string> channel, Func<RecordedRequest, StockAnswer> model, string cliModel)
    {
        var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(model));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["channel.json"] = channel(upstream.BaseUrl(), $$""" "models": ["gemini-*"], "modelMapping": { "{{cliModel}}": "{{cliModel}}-upstream" } """),
        });
        var (exit, stdout, stderr) = await RunCliAsync(gateway.BaseUrl, cliModel);
        return (upstream, exit, stdout, stderr);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunCliAsync(Uri gateway, string model)
    {
        var cli = RepoPaths.GeminiCli(Version);
        Assert.That(File.Exists(cli), Is.True, $"the Gemini CLI {Version} is not installed: run ./test.sh (tools/install-test-deps.sh) first");
        var work = Directory.CreateTempSubdirectory("ccx-gemini-").FullName;
        var home = Directory.CreateTempSubdirectory("ccx-gemini-home-").FullName;
        await File.WriteAllTextAsync(Path.Combine(work, "note.txt"), Secret + "\n");
        Directory.CreateDirectory(Path.Combine(home, ".gemini"));

        // The setting docs/clients.md shows, and nothing that would call Google: no usage statistics, no telemetry, no updates.
        await File.WriteAllTextAsync(Path.Combine(home, ".gemini", "settings.json"), """
            {
              "security": { "auth": { "selectedType": "gemini-api-key" } },
              "privacy": { "usageStatisticsEnabled": false },
              "telemetry": { "enabled": false },
              "general": { "enableAutoUpdate": false, "enableAutoUpdateNotification": false }
            }
            """);
        var start = new ProcessStartInfo(cli) { WorkingDirectory = work };
        foreach (var arg in (string[])["-p", "Read note.txt with a shell command and tell me what it says.", "-m", model, "--yolo", "--output-format", "json"])
        {
            start.ArgumentList.Add(arg);
        }

        // A clean environment: nothing of the machine's own Google settings may leak in.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("GOOGLE_", StringComparison.Ordinal) || k.StartsWith("GEMINI_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["HOME"] = home;
        start.Environment["TERM"] = "dumb";
        start.Environment["GOOGLE_GEMINI_BASE_URL"] = gateway.ToString().TrimEnd('/');
        start.Environment["GEMINI_API_KEY"] = TestGateway.AccessKey;
        start.Environment["GEMINI_CLI_TRUST_WORKSPACE"] = "true";
        return await CliProcess.RunAsync(start, TimeSpan.FromSeconds(120));
    }

    /// <summary>The printed answer: <c>response</c> of the CLI's JSON output.</summary>
    private static string Answer(string stdout)
    {
        var start = stdout.IndexOf('{', StringComparison.Ordinal);
        return start >= 0 && JsonNode.Parse(stdout[start..]) is JsonObject output ? output["response"]?.GetValue<string>() ?? "" : "";
    }

    private static string Transcript(int exit, string stdout, string stderr, IEnumerable<RecordedRequest> received) =>
        $"exit {exit}\nstdout:\n{stdout}\nstderr:\n{stderr[..Math.Min(4000, stderr.Length)]}\nupstream saw:\n" +
        string.Join("\n", received.Select(r => $"{r.Method} {r.Path}{r.QueryString} model={r.Model}\n  {r.Body[^Math.Min(600, r.Body.Length)..]}"));

    private static string Said(RecordedRequest request) => "The note says: " + (request.Body.Contains(Secret, StringComparison.Ordinal) ? Secret : "nothing");

    private static StockAnswer ScriptedGeminiModel(RecordedRequest request)
    {
        if (!request.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal))
        {
            return StockAnswer.OfJson(404, FakeGemini.Error(404, "not served by this fake", "NOT_FOUND"));
        }

        return StockAnswer.OfStream(HasFunctionResponse(request)
            ? FakeGemini.Stream([FakeGemini.Part.Say(Said(request))])
            : FakeGemini.Stream([FakeGemini.Part.Call("run_shell_command", new JsonObject { ["command"] = Command }.ToJsonString(), signature: Signature)]));
    }

    private static bool HasFunctionResponse(RecordedRequest request) => request.Body.Contains("\"functionResponse\"", StringComparison.Ordinal);

    private static StockAnswer ScriptedAnthropicModel(RecordedRequest request)
    {
        var model = request.Model ?? "fake";
        return request.Path != "/v1/messages"
            ? StockAnswer.For(request, new FakeUpstreamOptions())
            : StockAnswer.OfStream(request.Body.Contains("tool_result", StringComparison.Ordinal)
                ? FakeAnthropic.TextStream(model, Said(request), 3)
                : FakeAnthropic.ToolUseStream(model, "toolu_01", "run_shell_command", new JsonObject { ["command"] = Command }));
    }

    private static bool HasChatToolResult(RecordedRequest request) =>
        request.Json?["messages"] is JsonArray messages && messages.Any(m => m?["role"]?.GetValue<string>() == "tool");

    private static StockAnswer ScriptedChatModel(RecordedRequest request)
    {
        const string Model = "deepseek-chat";
        if (!request.Path.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        if (HasChatToolResult(request))
        {
            return StockAnswer.OfStream(
            [
                FakeOpenAI.RoleChunk(Model), FakeOpenAI.TextChunk(Said(request), Model), FakeOpenAI.FinishChunk("stop", Model), FakeOpenAI.UsageChunk(50, 8, 0, Model), FakeOpenAI.Done(),
            ]);
        }

        var args = new JsonObject { ["command"] = Command }.ToJsonString();
        return StockAnswer.OfStream(
        [
            FakeOpenAI.RoleChunk(Model), FakeOpenAI.ToolCallChunk(0, "call_1", "run_shell_command", args, Model),
            FakeOpenAI.FinishChunk("tool_calls", Model), FakeOpenAI.UsageChunk(900, 20, 0, Model), FakeOpenAI.Done(),
        ]);
    }

    private static bool HasResponsesToolOutput(RecordedRequest request) =>
        request.Json?["input"] is JsonArray input && input.Any(i => i?["type"]?.GetValue<string>() == "function_call_output");

    private static StockAnswer ScriptedResponsesModel(RecordedRequest request)
    {
        if (!request.Path.EndsWith("/responses", StringComparison.Ordinal))
        {
            return StockAnswer.For(request, new FakeUpstreamOptions());
        }

        return StockAnswer.OfStream(HasResponsesToolOutput(request)
            ? FakeResponses.Stream("gpt-5-2026", [FakeResponses.Item.Message(Said(request))], id: "resp_up2")
            : FakeResponses.Stream("gpt-5-2026", [FakeResponses.Item.FunctionCall("call_1", "run_shell_command", new JsonObject { ["command"] = Command }.ToJsonString())], id: "resp_up1"));
    }
}
