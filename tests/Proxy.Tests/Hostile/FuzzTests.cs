using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// A bounded fuzz test over every inbound endpoint: structure-aware mutations (a field removed, a value of
/// another type, a duplicated field, a lone surrogate, a bad UTF-8 byte, a cut body, deep nesting, huge
/// values) of real requests (Claude Code's recorded first turn, the shapes the OpenAI SDKs send, and what the Codex
/// and Gemini CLIs send), sent to
/// a gateway with a channel of every type (Anthropic, OpenAI Chat, OpenAI Responses, Gemini), so that every endpoint
/// reaches passthrough and conversion both ways. A fixed seed makes a failure
/// reproducible. Whatever a case holds, the gateway answers it: never a 5xx for the client's mistake, an error
/// body always in the caller's own shape, no unhandled exception in the log, and no secret in any answer.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class FuzzTests
{
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("CCX_FUZZ_SEED"), out var seed) ? seed : 20261202;
    // CCX_FUZZ_CASES runs a longer session by hand; CI runs the default.
    private static readonly int Cases = int.TryParse(Environment.GetEnvironmentVariable("CCX_FUZZ_CASES"), out var cases) && cases > 0 ? cases : 6000;
    private const string ChannelToken = "fuzz-channel-token-83b0e1f2";

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    // While set, the upstream's answers are mutated too (MutatedUpstreamAnswers_…): the tests of a fixture run one at a time.
    private Random? _answerMutations;
    private string? _lastAnswer; // what the upstream last sent, for a failure message

    // Upstream requests by protocol, to show that the cases reach every channel type.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _reached = new(StringComparer.Ordinal);

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _upstream = WireMockUpstream.Start();
        // As a real provider does, the fake refuses a request it cannot read with a 400 of its protocol (its stock
        // answers assume well-formed requests).
        _upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithAnswer(request =>
        {
            _reached.AddOrUpdate(Protocol(request.Path), 1, static (_, n) => n + 1);
            StockAnswer answer;
            try
            {
                answer = Answer(request);
            }
            catch (Exception ex) when (ex is InvalidOperationException or FormatException or System.Text.Json.JsonException)
            {
                return StockAnswer.OfJson(400, request.Path.Contains("chat", StringComparison.Ordinal) || request.Path.EndsWith("/responses", StringComparison.Ordinal)
                    ? FakeOpenAI.ErrorBody("invalid_request_error", "unreadable request")
                    : request.Path.Contains(":", StringComparison.Ordinal)
                        ? FakeGemini.Error(400, "unreadable request", "INVALID_ARGUMENT")
                        : FakeAnthropic.ErrorBody("invalid_request_error", "unreadable request"));
            }

            var result = Volatile.Read(ref _answerMutations) is { } random ? MutateAnswer(answer, random) : answer;
            _lastAnswer = result.Json?.ToJsonString() ?? string.Concat(result.Stream!.Select(x => x.WireText ?? $"<{x.GetType().Name}>"));
            return result;
        }));
        // A channel of every type, the last two with an output limit (clamped in passthrough and conversion both).
        var headers = $$""" "headers": { "X-Gateway-Token": "{{ChannelToken}}" } """;
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["anthropic.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), headers + """, "models": ["claude-*"], "modelMapping": { "opus": "up-opus", "haiku": "up-haiku" } """),
            ["openai.json"] = TestGateway.OpenAIChannel(_upstream.BaseUrl(), headers + """, "models": ["gpt-*"] """),
            ["responses.json"] = TestGateway.ResponsesChannel(_upstream.BaseUrl(), headers + """, "models": ["o4-*"], "maxTokens": 128 """),
            ["gemini.json"] = TestGateway.GeminiChannel(_upstream.BaseUrl(), headers + """, "models": ["gemini-*"], "maxTokens": 128 """),
        }, new Dictionary<string, string?> { ["Access:MaxFailedAuthPerMinute"] = "100000" });
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Protocol(string path) =>
        path.Contains(":", StringComparison.Ordinal) ? "gemini"
        : path.EndsWith("/responses", StringComparison.Ordinal) ? "responses"
        : path.Contains("/chat/", StringComparison.Ordinal) ? "chat"
        : path.EndsWith("/messages", StringComparison.Ordinal) ? "messages"
        : "other";

    // The stock answers, and Gemini's and OpenAI Responses' own for their channels.
    private static StockAnswer Answer(RecordedRequest request)
    {
        FakeGemini.Part[] geminiAnswer = [FakeGemini.Part.Say("fuzz answer")];
        FakeResponses.Item[] responsesAnswer = [FakeResponses.Item.Message("fuzz answer")];
        var path = request.Path;
        if (path.Contains(":streamGenerateContent", StringComparison.Ordinal))
        {
            return StockAnswer.OfStream(FakeGemini.Stream(geminiAnswer));
        }

        if (path.Contains(":generateContent", StringComparison.Ordinal))
        {
            return StockAnswer.OfJson(200, FakeGemini.Response(geminiAnswer));
        }

        if (path.EndsWith("/responses", StringComparison.Ordinal))
        {
            var model = request.Model ?? "o4-mini";
            return request.IsStream ? StockAnswer.OfStream(FakeResponses.Stream(model, responsesAnswer)) : StockAnswer.OfJson(200, FakeResponses.Response(model, responsesAnswer));
        }

        return StockAnswer.For(request, new FakeUpstreamOptions());
    }

    /// <summary>Whose error shape, and whose key header, an endpoint's caller expects.</summary>
    private enum Shape
    {
        Anthropic,
        OpenAI,
        Google,
    }

    /// <summary>An endpoint: its path for a model (Gemini names the model in the path), its caller's protocol, a real request.</summary>
    private sealed record Endpoint(Func<string, string> Path, Shape Shape, Func<string, JsonObject> Seed);

    private static readonly string[] s_models = ["claude-sonnet-4-6", "claude-opus-4-7", "gpt-4o", "gpt-4o-mini", "o4-mini", "gemini-2.5-pro"];

    private static readonly Endpoint[] s_endpoints =
    [
        new(_ => "/v1/messages", Shape.Anthropic, model => ClaudeCode(model)),
        new(_ => "/v1/messages", Shape.Anthropic, model => Messages(model)),
        new(_ => "/v1/messages/count_tokens", Shape.Anthropic, model => Messages(model)),
        new(_ => "/v1/chat/completions", Shape.OpenAI, model => Chat(model)),
        new(_ => "/v1/completions", Shape.OpenAI, model => Completions(model)),
        new(_ => "/v1/responses", Shape.OpenAI, model => Responses(model)),
        new(model => $"/v1beta/models/{model}:generateContent", Shape.Google, _ => Gemini()),
        new(model => $"/v1beta/models/{model}:streamGenerateContent?alt=sse", Shape.Google, _ => Gemini()),
    ];

    private static readonly JsonObject s_claudeCode = RecordedRequests.ClaudeCodeFirstTurn(RecordedRequests.ClaudeCodeVersions[^1])["body"]!.AsObject();

    private static JsonObject ClaudeCode(string model)
    {
        var body = s_claudeCode.DeepClone().AsObject();
        body["model"] = model;
        return body;
    }

    // What the Anthropic SDKs send: system, a tool loop, an image, thinking.
    private static JsonObject Messages(string model) => JsonNode.Parse("""
        {"model":"MODEL","max_tokens":256,"stream":false,"system":[{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral"}}],
         "thinking":{"type":"enabled","budget_tokens":1024},"temperature":1,"metadata":{"user_id":"user_4b1f"},
         "tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}],
         "messages":[
           {"role":"user","content":[{"type":"text","text":"Weather in Paris? 🌧️"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]},
           {"role":"assistant","content":[{"type":"thinking","thinking":"Need the tool.","signature":"EqQBCkYIBRgCKkDx"},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Paris"}}]},
           {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"12°C, rain"}]}]}
         ]}
        """.Replace("MODEL", model, StringComparison.Ordinal))!.AsObject();

    // What the OpenAI SDKs send for chat: developer message, parallel tool calls, image URL, stream options.
    private static JsonObject Chat(string model) => JsonNode.Parse("""
        {"model":"MODEL","stream":false,"stream_options":{"include_usage":true},"max_tokens":256,"temperature":0.2,"top_p":1,"stop":["END"],
         "user":"user-4b1f","response_format":{"type":"text"},"tool_choice":"auto","parallel_tool_calls":true,
         "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
         "messages":[
           {"role":"developer","content":"You are terse."},
           {"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome? 🌧️"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
           {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
           {"role":"tool","tool_call_id":"call_1","content":"12°C"},
           {"role":"tool","tool_call_id":"call_2","content":"18°C"}
         ]}
        """.Replace("MODEL", model, StringComparison.Ordinal))!.AsObject();

    private static JsonObject Completions(string model) => JsonNode.Parse("""
        {"model":"MODEL","prompt":["def fib(n):","# a comment"],"max_tokens":64,"temperature":0,"stop":"\n\n","stream":false,"echo":false,"suffix":null}
        """.Replace("MODEL", model, StringComparison.Ordinal))!.AsObject();

    // What the Codex CLI sends on a second turn: instructions, a developer message, reasoning, a tool call and its output.
    private static JsonObject Responses(string model) => JsonNode.Parse("""
        {"model":"MODEL","stream":false,"store":false,"instructions":"You are Codex.","max_output_tokens":256,"temperature":0.2,"top_p":1,
         "reasoning":{"effort":"medium","summary":"auto"},"text":{"format":{"type":"text"}},"tool_choice":"auto","parallel_tool_calls":true,
         "prompt_cache_key":"session-4b1f",
         "tools":[{"type":"function","name":"exec_command","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}}],
         "input":[
           {"type":"message","role":"developer","content":[{"type":"input_text","text":"Use exec_command."}]},
           {"type":"message","role":"user","content":[{"type":"input_text","text":"list the files 🌧️"},{"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},
           {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA-opaque"},
           {"type":"function_call","call_id":"call_1","name":"exec_command","arguments":"{\"cmd\":\"ls\"}"},
           {"type":"function_call_output","call_id":"call_1","output":"a.txt\nb.txt"}
         ]}
        """.Replace("MODEL", model, StringComparison.Ordinal))!.AsObject();

    // What the Gemini CLI sends: a system instruction, an image, a signed function call and its response, thinking.
    private static JsonObject Gemini() => JsonNode.Parse("""
        {"contents":[
           {"role":"user","parts":[{"text":"list the files 🌧️"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]},
           {"role":"model","parts":[{"text":"Need the tool.","thought":true},{"functionCall":{"id":"run_1","name":"run_shell_command","args":{"command":"ls"}},"thoughtSignature":"c2lnbmF0dXJl"}]},
           {"role":"user","parts":[{"functionResponse":{"id":"run_1","name":"run_shell_command","response":{"output":"a.txt"}}}]}],
         "systemInstruction":{"role":"user","parts":[{"text":"You are an interactive CLI agent."}]},
         "tools":[{"functionDeclarations":[{"name":"run_shell_command","description":"Run a command","parametersJsonSchema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}]}],
         "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},
         "generationConfig":{"temperature":0,"topP":1,"maxOutputTokens":256,"candidateCount":1,"responseMimeType":"text/plain","thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}}
        """)!.AsObject();

    [Test]
    public async Task MutatedRealRequests_EveryEndpoint_AnsweredInShape_NoServerErrors_NoSecrets()
    {
        var random = new Random(Seed);
        var statuses = new SortedDictionary<int, int>();
        var clock = Stopwatch.StartNew();
        var logsBefore = _gateway.Logs.Lines.Count;
        for (var i = 0; i < Cases; i++)
        {
            // The large Claude Code seed one time in eight: it is 90 KB.
            var endpoint = s_endpoints[random.Next(8) == 0 ? 0 : 1 + random.Next(s_endpoints.Length - 1)];
            var model = s_models[random.Next(s_models.Length)];
            var path = endpoint.Path(model);
            var body = Mutate(endpoint.Seed(model), random);
            var (status, text, response) = await SendAsync(path, endpoint.Shape, body);
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            var what = $"case {i} (seed {Seed}): {path} {Describe(body)} -> {status} {Shorten(text)}";

            Assert.That(status, Is.LessThan(500), () => what + "\n" + string.Join("\n", _gateway.Logs.Lines.Where(l => l.Contains("Exception", StringComparison.Ordinal)).TakeLast(1)));
            AssertShape(endpoint.Shape, status, text, response, what);
            ErrorAssert.NoSecrets(response, text, FakeKeys.Upstream, ChannelToken, TestGateway.AccessKey);
        }

        TestContext.Out.WriteLine($"{Cases} cases in {clock.Elapsed.TotalSeconds:0.0} s; statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        var logs = string.Join('\n', _gateway.Logs.Lines.Skip(logsBefore));
        Assert.That(logs, Does.Not.Contain("nhandled exception").And.Not.Contain("   at "), "no exception escaped into the log");
        // The fuzzer must reach both sides of the gateway, or it tests nothing: plenty of answers and plenty of refusals.
        Assert.That(statuses.GetValueOrDefault(200), Is.GreaterThan(Cases / 10), "mutations that keep a request valid are served");
        Assert.That(statuses.GetValueOrDefault(400), Is.GreaterThan(Cases / 10), "mutations that break a request are refused");
        TestContext.Out.WriteLine($"upstream requests: {string.Join(", ", _reached.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}×{r.Value}"))}");
        Assert.That(new[] { "messages", "chat", "responses", "gemini" }.Select(p => _reached.GetValueOrDefault(p)), Has.All.GreaterThan(Cases / 50),
            "the cases reach a channel of every type");
    }

    /// <summary>
    /// The other side: real requests, well formed, to every endpoint and channel type, answered by an upstream whose
    /// answers are mutated (a field removed or of another type, an event dropped or garbled, a stream that ends early
    /// or inside a frame). A broken upstream is never the gateway's 500 nor a cut connection: the client gets an answer,
    /// an error in its own shape (a 502), or a stream that ends with an error event.
    /// </summary>
    [Test]
    public async Task MutatedUpstreamAnswers_EveryRoute_AnsweredOrFailedInShape_NeverAServerErrorOrACut()
    {
        var random = new Random(Seed);
        Volatile.Write(ref _answerMutations, new Random(Seed + 1));
        var cases = Cases / 3;
        var statuses = new SortedDictionary<int, int>();
        var logsBefore = _gateway.Logs.Lines.Count;
        try
        {
            for (var i = 0; i < cases; i++)
            {
                var endpoint = s_endpoints[1 + random.Next(s_endpoints.Length - 1)];
                var model = s_models[random.Next(s_models.Length)];
                var path = endpoint.Path(model);
                var request = endpoint.Seed(model);
                if (random.Next(2) == 0)
                {
                    request["stream"] = true;
                }

                var body = Encoding.UTF8.GetBytes(request.ToJsonString());
                int status;
                string text;
                HttpResponseMessage response;
                try
                {
                    (status, text, response) = await SendAsync(path, endpoint.Shape, body);
                }
                catch (HttpRequestException ex)
                {
                    Assert.Fail($"case {i} (seed {Seed}): {path} {model}: the connection was cut ({ex.Message})\n"
                        + string.Join("\n", _gateway.Logs.Lines.Skip(logsBefore).Where(l => l.Contains("Exception", StringComparison.Ordinal)).TakeLast(1)));
                    return;
                }

                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                var what = $"case {i} (seed {Seed}): {path} {model} -> {status} {Shorten(text)}";
                Assert.That(status, Is.Not.EqualTo(500), () => what + "\nUPSTREAM: " + _lastAnswer + "\n" + string.Join("\n", _gateway.Logs.Lines.Skip(logsBefore).Where(l => l.Contains("Exception", StringComparison.Ordinal)).TakeLast(1)));
                AssertShape(endpoint.Shape, status, text, response, what);
                ErrorAssert.NoSecrets(response, text, FakeKeys.Upstream, ChannelToken, TestGateway.AccessKey);
                if (status == 200 && response.Content.Headers.ContentType?.MediaType == "text/event-stream")
                {
                    Assert.That(EndsProperly(path, SseText.Parse(text)), Is.True, $"{what} … {text[Math.Max(0, text.Length - 500)..]}\nUPSTREAM … {_lastAnswer?[Math.Max(0, _lastAnswer.Length - 700)..]}: a stream ends with its protocol's last event or an error event, never silently");
                }
            }
        }
        finally
        {
            Volatile.Write(ref _answerMutations, null);
        }

        TestContext.Out.WriteLine($"{cases} cases; statuses: {string.Join(", ", statuses.Select(s => $"{s.Key}×{s.Value}"))}");
        Assert.That(_gateway.Logs.Lines.Skip(logsBefore).Where(l => l.Contains("nhandled exception", StringComparison.Ordinal) || l.Contains("   at ", StringComparison.Ordinal)),
            Is.Empty, "no exception escaped into the log");
        Assert.That(statuses.GetValueOrDefault(200), Is.GreaterThan(cases / 10), "answers that survive their mutation are served");
        Assert.That(statuses.GetValueOrDefault(502), Is.GreaterThan(cases / 50), "answers broken by their mutation are a bad gateway");
    }

    // Whether a stream's last event is its protocol's end, or an error event.
    private static bool EndsProperly(string path, IReadOnlyList<(string? Type, string Data)> events)
    {
        if (events.Count == 0)
        {
            return false;
        }

        var (type, data) = events[^1];
        if (path.Contains(":streamGenerateContent", StringComparison.Ordinal))
        {
            return data.Contains("\"finishReason\"", StringComparison.Ordinal) || data.Contains("\"error\"", StringComparison.Ordinal);
        }

        if (path.EndsWith("/responses", StringComparison.Ordinal))
        {
            return type is "response.completed" or "response.incomplete" or "response.failed" or "error";
        }

        if (path.Contains("/chat/", StringComparison.Ordinal) || path.EndsWith("/completions", StringComparison.Ordinal))
        {
            // An error chunk (which OpenAI's SDKs raise on), or [DONE]: the upstream's own, or the gateway's once a finish reason came.
            return data.StartsWith("{\"error\"", StringComparison.Ordinal) || data == "[DONE]";
        }

        return type is "message_stop" or "error";
    }

    // One to three mutations of a stock answer: in a JSON answer, of its tree; in a stream, of an event's JSON, or an
    // event dropped, garbled, or the stream ended there (between frames or inside one).
    private static StockAnswer MutateAnswer(StockAnswer answer, Random random)
    {
        if (answer.Json is JsonObject json && answer.Status == 200)
        {
            var mutated = json.DeepClone().AsObject();
            for (var n = random.Next(1, 4); n > 0; n--)
            {
                MutateTree(mutated, random);
            }

            return answer with { Json = mutated };
        }

        if (answer.Stream is not { Count: > 0 } stream)
        {
            return answer;
        }

        var steps = stream.ToList();
        for (var n = random.Next(1, 3); n > 0 && steps.Count > 0; n--)
        {
            var at = random.Next(steps.Count);
            switch (random.Next(6))
            {
                case 0:
                    steps.RemoveAt(at);
                    break;
                case 1:
                    steps[at] = StreamStep.Raw("data: {\"garbled\n\n");
                    break;
                case 2:
                    steps.RemoveRange(at, steps.Count - at);
                    break;
                case 3:
                    // Ends inside a frame. (WireMock cannot lose the connection mid-stream: UpstreamFaultTests does, on the Kestrel fake.)
                    steps.RemoveRange(at, steps.Count - at);
                    steps.Add(StreamStep.Raw("data: {\"partial\":"));
                    break;
                default:
                    steps[at] = MutateFrame(steps[at], random);
                    break;
            }
        }

        return answer with { Stream = steps };
    }

    // An SSE frame whose JSON is mutated (a Gemini chunk is raw "data: …" text); anything else as it was.
    private static StreamStep MutateFrame(StreamStep step, Random random)
    {
        var (name, data, raw) = step switch
        {
            StreamStep.Frame frame => (frame.Name, frame.Data, false),
            StreamStep.RawText rawText when rawText.Text.StartsWith("data: ", StringComparison.Ordinal) => (null, rawText.Text["data: ".Length..].Trim(), true),
            _ => (null, null, false),
        };
        if (data is null || !data.StartsWith('{'))
        {
            return step;
        }

        JsonObject json;
        try
        {
            json = JsonNode.Parse(data)!.AsObject();
        }
        catch (System.Text.Json.JsonException)
        {
            // A frame an earlier mutation already garbled.
            return step;
        }

        MutateTree(json, random);
        var text = json.ToJsonString();
        return raw ? StreamStep.Raw($"data: {text}\r\n\r\n") : new StreamStep.Frame(name, text);
    }

    private async Task<(int Status, string Text, HttpResponseMessage Response)> SendAsync(string path, Shape shape, byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        switch (shape)
        {
            case Shape.OpenAI:
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestGateway.AccessKey);
                break;
            case Shape.Google:
                request.Headers.Add("x-goog-api-key", TestGateway.AccessKey);
                break;
            default:
                request.Headers.Add("x-api-key", TestGateway.AccessKey);
                request.Headers.Add("anthropic-version", "2023-06-01");
                break;
        }

        var response = await _gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return ((int)response.StatusCode, text, response);
    }

    private static void AssertShape(Shape shape, int status, string text, HttpResponseMessage response, string what)
    {
        Assert.That(text, Is.Not.Empty, what);
        if (status < 400)
        {
            return;
        }

        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"), what);
        var json = JsonNode.Parse(text)!.AsObject();
        var error = json["error"]!.AsObject();
        Assert.That(error["message"]!.GetValue<string>(), Is.Not.Empty, what);
        switch (shape)
        {
            case Shape.OpenAI:
                Assert.That(error["type"]!.GetValue<string>(), Is.Not.Empty, what);
                Assert.That(json.ContainsKey("type"), Is.False, what + ": an OpenAI client gets OpenAI's shape");
                break;
            case Shape.Google:
                Assert.That(error["code"]!.GetValue<int>(), Is.EqualTo(status), what + ": a Gemini client gets Google's shape");
                Assert.That(error["status"]!.GetValue<string>(), Is.Not.Empty, what);
                break;
            default:
                Assert.That(json["type"]!.GetValue<string>(), Is.EqualTo("error"), what);
                Assert.That(error["type"]!.GetValue<string>(), Is.Not.Empty, what);
                break;
        }
    }

    /// <summary>One to three mutations of the tree, then sometimes one of the raw bytes.</summary>
    private static byte[] Mutate(JsonObject root, Random random)
    {
        if (random.Next(3) == 0)
        {
            // Streamed answers too: converted event by event, each protocol's stream shape.
            root["stream"] = true;
        }

        for (var n = random.Next(1, 4); n > 0; n--)
        {
            MutateTree(root, random);
        }

        var text = root.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = 256 });
        switch (random.Next(10))
        {
            case 0:
                // A top-level field given twice, with another value.
                return Encoding.UTF8.GetBytes(text.Insert(1, "\"model\":\"claude-opus-4-7\","));
            case 1:
                // A lone surrogate inside some string.
                return Encoding.UTF8.GetBytes(InsertIntoAString(text, random, random.Next(2) == 0 ? "\\ud83d" : "\\udc00"));
            case 2:
            {
                // A byte that is never valid UTF-8 inside some string.
                var bytes = Encoding.UTF8.GetBytes(InsertIntoAString(text, random, "\u0001"));
                var at = Array.IndexOf(bytes, (byte)1);
                if (at >= 0)
                {
                    bytes[at] = (byte)(0xF8 + random.Next(8));
                }

                return bytes;
            }

            case 3:
                // Cut short.
                return Encoding.UTF8.GetBytes(text[..random.Next(text.Length)]);
            default:
                return Encoding.UTF8.GetBytes(text);
        }
    }

    private static void MutateTree(JsonObject root, Random random)
    {
        var nodes = new List<(JsonNode Parent, object Slot)>();
        Collect(root, nodes);
        if (nodes.Count == 0)
        {
            return;
        }

        var (parent, slot) = nodes[random.Next(nodes.Count)];
        switch (random.Next(4))
        {
            case 0 when parent is JsonObject o:
                o.Remove((string)slot);
                break;
            case 0 when parent is JsonArray a:
                a.RemoveAt((int)slot);
                break;
            default:
                Set(parent, slot, Replacement(random));
                break;
        }
    }

    private static void Collect(JsonNode node, List<(JsonNode, object)> into)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, child) in o.ToList())
                {
                    into.Add((o, name));
                    if (child is not null)
                    {
                        Collect(child, into);
                    }
                }

                break;
            case JsonArray a:
                for (var i = 0; i < a.Count; i++)
                {
                    into.Add((a, i));
                    if (a[i] is { } child)
                    {
                        Collect(child, into);
                    }
                }

                break;
        }
    }

    private static void Set(JsonNode parent, object slot, JsonNode? value)
    {
        if (parent is JsonObject o)
        {
            o[(string)slot] = value;
        }
        else
        {
            ((JsonArray)parent)[(int)slot] = value;
        }
    }

    private static JsonNode? Replacement(Random random) => random.Next(15) switch
    {
        0 => null,
        1 => 1,
        2 => -1,
        3 => JsonValue.Create(1e308),
        4 => true,
        5 => "",
        6 => new string('ä', random.Next(1, 5000)),
        7 => new JsonArray(),
        8 => new JsonObject(),
        9 => new JsonArray(1, null, "x"),
        10 => JsonNode.Parse(new string('[', 70) + new string(']', 70), documentOptions: new JsonDocumentOptions { MaxDepth = 256 }),
        11 => "claude-haiku-claude-opus-4-7",
        12 => long.MaxValue,
        13 => "2",
        _ => "\r\nInformation forged log line\u2028",
    };

    private static string InsertIntoAString(string text, Random random, string insert)
    {
        // A position just after an opening quote of a string value (": "), so the insertion stays inside a string.
        var positions = new List<int>();
        for (var at = text.IndexOf(":\"", StringComparison.Ordinal); at >= 0; at = text.IndexOf(":\"", at + 1, StringComparison.Ordinal))
        {
            positions.Add(at + 2);
        }

        return positions.Count == 0 ? text : text.Insert(positions[random.Next(positions.Count)], insert);
    }

    private static string Describe(byte[] body) => Shorten(Encoding.UTF8.GetString(body));

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";
}
