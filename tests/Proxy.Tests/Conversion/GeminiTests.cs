using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// Gemini through the gateway, on real sockets: a Gemini client's key in any of the three places Google's API takes it
/// (never reaching a log or an upstream), answers and errors in Google's shape, streams as SSE or as a JSON array;
/// the <c>gemini</c> channel over TLS (as Google's API is), passed through byte for byte to Gemini clients and
/// converted for Claude Code; the count and model endpoints.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GeminiTests
{
    private const string Signature = "CiQBjz1rX+/Zz9k0Rw==AbC/+dEf";
    private TestCertificateAuthority _ca = null!;
    private WireMockServer _google = null!;
    private WireMockServer _anthropic = null!;
    private TestGateway _gateway = null!;

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        _ca = TestCertificateAuthority.Create();
        _google = WireMockUpstream.StartTlsProvider(_ca.IssueServerCertificate("localhost"));
        _anthropic = WireMockUpstream.StartProvider();
    }

    [OneTimeTearDown]
    public void OneTimeTearDown()
    {
        _google.Dispose();
        _anthropic.Dispose();
        _ca.Dispose();
    }

    [SetUp]
    public async Task SetUp()
    {
        _google.ResetMappings();
        _google.ResetLogEntries();
        _anthropic.ResetMappings();
        _anthropic.ResetLogEntries();
        _anthropic.AnswerLikeAProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["google.json"] = TestGateway.GeminiChannel(_google.BaseUrl(),
                $$""" "caCertificates": ["{{_ca.PemPath}}"], "models": ["gemini-*", "sonnet"], "modelMapping": { "sonnet": "gemini-2.5-pro" } """),
            ["anthropic.json"] = TestGateway.AnthropicChannel(_anthropic.BaseUrl(), """ "models": ["claude-*"] """),
        });
    }

    [TearDown]
    public async Task TearDown() => await _gateway.DisposeAsync();

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string UserTurn(string text = "hi") => $$"""{"contents":[{"role":"user","parts":[{"text":"{{text}}"}]}]}""";

    private HttpRequestMessage GeminiPost(string pathAndQuery, string body, string? googKey = TestGateway.AccessKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, pathAndQuery) { Content = Json(body) };
        if (googKey is not null)
        {
            request.Headers.Add("x-goog-api-key", googKey);
        }

        request.Headers.Add("x-goog-api-client", "google-genai-sdk/1.30.0 gl-node/v20");
        return request;
    }

    [Test]
    public async Task GeminiClient_OnAnAnthropicChannel_StreamsSse_WithTheToolIdKept()
    {
        _anthropic.ResetMappings();
        _anthropic.AnswerEveryRequest(Response.Create().WithEvents(_ => FakeAnthropic.ToolUseStream("claude-sonnet-4-6", "toolu_01", "run_shell_command",
            new JsonObject { ["command"] = "ls" })));

        var response = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/claude-sonnet-4-6:streamGenerateContent?alt=sse", UserTurn("list files")));
        var frames = SseText.Parse(await response.Content.ReadAsStringAsync());

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
        var chunks = frames.Select(f => JsonNode.Parse(f.Data)!).ToList();
        var call = chunks.SelectMany(c => c["candidates"]![0]!["content"]!["parts"]!.AsArray()).Single(p => p!["functionCall"] is not null)!["functionCall"]!;
        Assert.That((call["id"]!.GetValue<string>(), call["name"]!.GetValue<string>(), call["args"]!["command"]!.GetValue<string>()),
            Is.EqualTo(("toolu_01", "run_shell_command", "ls")));
        Assert.That(chunks[^1]["candidates"]![0]!["finishReason"]!.GetValue<string>(), Is.EqualTo("STOP"));
        var seen = _anthropic.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages"));
        Assert.That(seen.Json!["messages"]![0]!["content"]!.ToJsonString(), Does.Contain("list files"));
    }

    [Test]
    public async Task KeyInTheQuery_Authenticates_AndReachesNoLogAndNoUpstream_EvenWithEveryLogOn()
    {
        _google.AnswerEveryRequest(Response.Create().WithJson(FakeGemini.Response([FakeGemini.Part.Say("Hello from Gemini")])));

        // Every category at Trace, ASP.NET Core's own request line included, as an operator chasing a problem might set.
        await _gateway.DisposeAsync();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["google.json"] = TestGateway.GeminiChannel(_google.BaseUrl(), $$""" "caCertificates": ["{{_ca.PemPath}}"] """),
        }, new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace", ["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace" });
        var response = await _gateway.Client.SendAsync(GeminiPost($"/v1beta/models/gemini-2.5-pro:generateContent?key={TestGateway.AccessKey}", UserTurn(), googKey: null));
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json.ToJsonString());
        Assert.That(json["candidates"]![0]!["content"]!["parts"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Hello from Gemini"));
        var seen = _google.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1beta/models/gemini-2.5-pro:generateContent"));
        Assert.That(seen.QueryString, Is.Empty, "the caller's query, its key above all, never goes upstream");
        Assert.That(seen.Header("x-goog-api-key"), Is.EqualTo(FakeKeys.Upstream), "the channel's own key, in Google's header");
        Assert.That(seen.Headers.Values, Has.None.Contains(TestGateway.AccessKey));
        Assert.That(_gateway.Logs.All, Does.Not.Contain(TestGateway.AccessKey));
        Assert.That(_gateway.Logs.All, Does.Contain("gemini.generateContent"), "the request line is written (without the key)");
        Assert.That(_gateway.Logs.All, Does.Contain("Microsoft.AspNetCore.Routing"), "ASP.NET Core's own logging is on");
    }

    [Test]
    public async Task GeminiChannel_PassesThroughByteForByte_OverTls_SignatureAndSafetySettingsIncluded()
    {
        _google.AnswerEveryRequest(Response.Create().WithEvents(_ => FakeGemini.Stream(
            [FakeGemini.Part.Call("run_shell_command", """{"command":"ls"}""", signature: Signature)], promptTokens: 40, outputTokens: 3)));
        var body = """
            {"contents":[{"role":"user","parts":[{"text":"go"}]},
              {"role":"model","parts":[{"functionCall":{"name":"run_shell_command","args":{"command":"pwd"}},"thoughtSignature":"SIGNATURE"}]},
              {"role":"user","parts":[{"functionResponse":{"name":"run_shell_command","response":{"output":"/tmp"}}}]}],
             "safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}
            """.Replace("SIGNATURE", Signature, StringComparison.Ordinal);

        var response = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/sonnet:streamGenerateContent?alt=sse", body));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var seen = _google.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1beta/models/gemini-2.5-pro:streamGenerateContent"), "the channel's model in the path");
        Assert.That(seen.QueryString, Is.EqualTo("?alt=sse"));
        Assert.That(seen.Body, Is.EqualTo(body), "the body goes as the client sent it");
        Assert.That(text, Does.Contain($"\"thoughtSignature\": \"{Signature}\""), "Google's chunks reach the client as Google wrote them");
    }

    [Test]
    public async Task StreamWithoutAltSse_IsOneJsonArray()
    {
        _google.AnswerEveryRequest(Response.Create().WithEvents(_ => FakeGemini.Stream([FakeGemini.Part.Say("Hello there, friend")])));

        var response = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:streamGenerateContent", UserTurn()));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        var chunks = JsonNode.Parse(text)!.AsArray();
        Assert.That(string.Concat(chunks.Select(c => c!["candidates"]![0]!["content"]!["parts"]![0]!["text"]!.GetValue<string>())), Is.EqualTo("Hello there, friend"));
        Assert.That(_google.Received().Single().QueryString, Is.EqualTo("?alt=sse"), "asked for as SSE, framed for the client as it asked");
    }

    [Test]
    public async Task ClaudeClient_OnTheGeminiChannel_ConvertedBothWays()
    {
        _google.AnswerEveryRequest(Response.Create().WithJson(FakeGemini.Response(
            [FakeGemini.Part.Say("Reading."), FakeGemini.Part.Call("Read", """{"file_path":"a.txt"}""", id: "fc_1", signature: Signature)], promptTokens: 50, outputTokens: 6, cachedTokens: 10)));

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages",
            """{"model":"sonnet","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"read a.txt"}],"tools":[{"name":"Read","input_schema":{"type":"object"}}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["model"]!.GetValue<string>(), Is.EqualTo("sonnet"));
        Assert.That(json["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        var tool = json["content"]!.AsArray().Single(b => b!["type"]!.GetValue<string>() == "tool_use")!;
        Assert.That(tool["id"]!.GetValue<string>(), Is.EqualTo("fc_1"));
        Assert.That(json["usage"]!["cache_read_input_tokens"]!.GetValue<int>(), Is.EqualTo(10));
        var seen = _google.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1beta/models/gemini-2.5-pro:generateContent"));
        Assert.That(seen.Json!["systemInstruction"]!["parts"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Be brief."));
        Assert.That(seen.Header("x-api-key"), Is.Null);
    }

    [Test]
    public async Task ClaudeClient_GeminiTurnThatBrokeOff_Gets502InAnthropicsShape_NotA200()
    {
        // Google answers 200 with a turn that broke off: for the client that is a failed answer, not an answer.
        _google.AnswerEveryRequest(Response.Create().WithJson(FakeGemini.Response([], finishReason: "MALFORMED_FUNCTION_CALL")));

        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages",
            """{"model":"sonnet","max_tokens":64,"messages":[{"role":"user","content":"read a.txt"}]}"""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway), json?.ToJsonString());
        Assert.That(json!["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("MALFORMED_FUNCTION_CALL"));
    }

    [Test]
    public async Task UpstreamError_ReachesAGeminiClientInGooglesShape_AndAClaudeClientInAnthropics()
    {
        _google.AnswerEveryRequest(Response.Create().WithStatusCode(429).WithJson(FakeGemini.Error(429, "Quota exceeded for this model.", "RESOURCE_EXHAUSTED")));

        var gemini = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:generateContent", UserTurn()));
        var (claude, claudeJson) = await _gateway.SendAsync(_gateway.Post("/v1/messages", """{"model":"sonnet","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}"""));

        Assert.That(gemini.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(JsonNode.Parse(await gemini.Content.ReadAsStringAsync())!["error"]!["status"]!.GetValue<string>(), Is.EqualTo("RESOURCE_EXHAUSTED"));
        Assert.That(claude.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(claudeJson!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("rate_limit_error"));
    }

    [TestCase("/v1beta/models/gemini-2.5-pro:generateContent", "{\"contents\":[", "bad-key", 401, "UNAUTHENTICATED")]
    [TestCase("/v1beta/models/gemini-2.5-pro:generateContent", "{\"contents\":[", TestGateway.AccessKey, 400, "INVALID_ARGUMENT")]
    [TestCase("/v1beta/models/no-such-model:generateContent", "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}", TestGateway.AccessKey, 404, "NOT_FOUND")]
    [TestCase("/v1beta/models/gemini-2.5-pro:embedContent", "{}", TestGateway.AccessKey, 404, "NOT_FOUND")]
    public async Task ClientMistakes_AnswerInGooglesShape(string path, string body, string key, int status, string? googleStatus)
    {
        _google.AnswerEveryRequest(Response.Create().WithJson(FakeGemini.Response([FakeGemini.Part.Say("ok")])));

        var response = await _gateway.Client.SendAsync(GeminiPost(path, body, key));
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That((int)response.StatusCode, Is.EqualTo(status), json.ToJsonString());
        if (googleStatus is not null)
        {
            Assert.That((json["error"]!["code"]!.GetValue<int>(), json["error"]!["status"]!.GetValue<string>()), Is.EqualTo((status, googleStatus)));
            Assert.That(json["error"]!["message"]!.GetValue<string>(), Is.Not.Empty);
        }
    }

    [Test]
    public async Task CandidateCount_OnAGeminiChannel_IsGooglesToJudge_UnderV1Too()
    {
        _google.AnswerEveryRequest(Response.Create().WithJson(FakeGemini.Response([FakeGemini.Part.Say("ok")])));
        const string Body = """{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":3}}""";

        var response = await _gateway.Client.SendAsync(GeminiPost("/v1/models/gemini-2.5-pro:generateContent", Body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_google.Received().Single().Body, Is.EqualTo(Body), "passed through as sent");
    }

    [Test]
    public async Task TextReachesTheClientAsItComes_WhileAnotherChannelCouldStillTakeOver()
    {
        // Google writes "text": "…" with a space: the gateway must see that as the answer's first content and
        // release it, not hold the stream back (for failover) until the finish.
        var gate = new TaskCompletionSource();
        _google.AnswerEveryRequest(Response.Create().WithEvents(_ =>
        [
            FakeGemini.Chunk(JsonNode.Parse("""{"candidates":[{"content":{"parts":[{"text":"First words"}],"role":"model"},"index":0}]}""")!),
            new StreamStep.WaitFor(gate.Task),
            FakeGemini.Chunk(JsonNode.Parse("""{"candidates":[{"content":{"parts":[{"text":" and the rest."}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":4,"totalTokenCount":9}}""")!),
        ]));
        await _gateway.DisposeAsync();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a-google.json"] = TestGateway.GeminiChannel(_google.BaseUrl(), $$""" "caCertificates": ["{{_ca.PemPath}}"], "priority": 0 """),
            ["b-anthropic.json"] = TestGateway.AnthropicChannel(_anthropic.BaseUrl(), """ "priority": 1 """),
        });

        // Held back, not even the headers would come before the gate opens (a TimeoutException here).
        using var response = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", UserTurn()),
            HttpCompletionOption.ResponseHeadersRead).WaitAsync(TimeSpan.FromSeconds(15));
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var first = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(15));
        gate.SetResult();
        var rest = await reader.ReadToEndAsync();

        Assert.That(first, Does.Contain("First words"), "the first text came before the upstream finished");
        Assert.That(rest, Does.Contain("and the rest."));
        Assert.That(_anthropic.Received(), Is.Empty);
    }

    [Test]
    public async Task Usage_OfWholeAndStreamedGeminiAnswers_IsAccounted()
    {
        _google.AnswerEveryRequest(Response.Create().WithAnswer(request => request.Path.EndsWith(":streamGenerateContent", StringComparison.Ordinal)
            ? StockAnswer.OfStream(FakeGemini.Stream([FakeGemini.Part.Say("streamed")], promptTokens: 42, outputTokens: 17))
            : StockAnswer.OfJson(200, FakeGemini.Response([FakeGemini.Part.Say("whole")], promptTokens: 31, outputTokens: 5))));

        await (await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", UserTurn()))).Content.ReadAsStringAsync();
        await (await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:generateContent", UserTurn()))).Content.ReadAsStringAsync();

        // The request log line carries what usage accounting records.
        await Telemetry.Poll.UntilAsync(() => _gateway.Logs.Lines.Count(l => l.Contains(": request ", StringComparison.Ordinal)) >= 2 ? "" : null, "both log lines");
        var lines = _gateway.Logs.Lines.Where(l => l.Contains(": request ", StringComparison.Ordinal)).ToList();
        Assert.That(lines, Has.Some.Contains("tokens in 42 out 17"), string.Join("\n", lines));
        Assert.That(lines, Has.Some.Contains("tokens in 31 out 5"), string.Join("\n", lines));
    }

    [Test]
    public async Task CandidateCount_OnAConvertedRoute_IsRefusedClearly()
    {
        var response = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/claude-sonnet-4-6:generateContent",
            """{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"candidateCount":2}}"""));
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("candidateCount"));
        Assert.That(_anthropic.Received(), Is.Empty);
    }

    [Test]
    public async Task CountTokens_ForwardedToGemini_EstimatedElsewhere()
    {
        _google.AnswerEveryRequest(Response.Create().WithJson(new JsonObject { ["totalTokens"] = 42 }));

        var forwarded = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/gemini-2.5-pro:countTokens", UserTurn("count me")));
        var estimated = await _gateway.Client.SendAsync(GeminiPost("/v1beta/models/claude-sonnet-4-6:countTokens", UserTurn("count me please, all of these words")));

        Assert.That(JsonNode.Parse(await forwarded.Content.ReadAsStringAsync())!["totalTokens"]!.GetValue<int>(), Is.EqualTo(42));
        Assert.That(_google.Received().Single().Path, Is.EqualTo("/v1beta/models/gemini-2.5-pro:countTokens"));
        Assert.That(estimated.Headers.GetValues("x-ccx-token-count").Single(), Is.EqualTo("estimate"));
        Assert.That(JsonNode.Parse(await estimated.Content.ReadAsStringAsync())!["totalTokens"]!.GetValue<int>(), Is.GreaterThan(0));
        Assert.That(_anthropic.Received(), Is.Empty);
    }

    [Test]
    public async Task Models_ListedInGooglesShape()
    {
        var list = new HttpRequestMessage(HttpMethod.Get, "/v1beta/models");
        list.Headers.Add("x-goog-api-key", TestGateway.AccessKey);
        var one = new HttpRequestMessage(HttpMethod.Get, "/v1beta/models/sonnet");
        one.Headers.Add("x-goog-api-key", TestGateway.AccessKey);

        var models = JsonNode.Parse(await (await _gateway.Client.SendAsync(list)).Content.ReadAsStringAsync())!["models"]!.AsArray();
        var model = JsonNode.Parse(await (await _gateway.Client.SendAsync(one)).Content.ReadAsStringAsync())!;

        Assert.That(models.Select(m => m!["name"]!.GetValue<string>()), Does.Contain("models/sonnet"));
        Assert.That(model["name"]!.GetValue<string>(), Is.EqualTo("models/sonnet"));
        Assert.That(model["supportedGenerationMethods"]!.AsArray().Select(m => m!.GetValue<string>()), Does.Contain("streamGenerateContent"));
    }
}
