using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using NUnit.Framework;

namespace CcxProxy.TestSupport.Tests;

[TestFixture]
public sealed class FakeUpstreamTests
{
    private FakeUpstream _upstream = null!;
    private HttpClient _client = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = await FakeUpstream.StartAsync().Bounded();
        _client = TestTimeouts.NewClient();
        _client.BaseAddress = _upstream.BaseUrl;
    }

    [TearDown]
    public async Task TearDown()
    {
        _client.Dispose();
        await _upstream.DisposeAsync().AsTask().Bounded();
    }

    [Test]
    public void StartAsync_FreePort_BaseUrlIsLoopbackWithoutTrailingSlash()
    {
        Assert.That(_upstream.BaseUrl.OriginalString, Does.Match(@"^http://127\.0\.0\.1:\d+$"));
        Assert.That(_upstream.Port, Is.GreaterThan(0));
    }

    [Test]
    public async Task DefaultHandler_Messages_ReturnsAnthropicMessageEchoingModel()
    {
        using var response = await _client.PostAsync("/v1/messages", Json("""{"model":"claude-x","max_tokens":5,"messages":[]}""")).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        Assert.That(body["type"]!.GetValue<string>(), Is.EqualTo("message"));
        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("claude-x"));
        Assert.That(body["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("Hello from fake upstream"));
        Assert.That(body["stop_reason"]!.GetValue<string>(), Is.EqualTo("end_turn"));
        Assert.That(body["usage"]!["output_tokens"]!.GetValue<int>(), Is.EqualTo(5));
    }

    [Test]
    public async Task DefaultHandler_MessagesStream_ReturnsAnthropicEventSequence()
    {
        using var response = await _client.PostAsync("/v1/messages?beta=true", Json("""{"model":"claude-x","stream":true}""")).Bounded();
        var frames = await SseReader.ReadAllAsync(await response.Content.ReadAsStreamAsync().Bounded()).Bounded();

        Assert.That(response.Content.Headers.ContentType!.ToString(), Is.EqualTo("text/event-stream; charset=utf-8"));
        var names = frames.Select(f => f.Event).Distinct().ToArray();
        Assert.That(names, Is.EqualTo(new[] { "message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop" }));
        Assert.That(frames.All(f => f.Json?["type"]?.GetValue<string>() == f.Event), Is.True, "data.type equals the event name");
        Assert.That(frames[0].Json!["message"]!["model"]!.GetValue<string>(), Is.EqualTo("claude-x"));
        var deltas = frames.Where(f => f.Event == "content_block_delta").Select(f => f.Json!["delta"]!["text"]!.GetValue<string>()).ToList();
        Assert.That(deltas, Has.Count.EqualTo(20));
        Assert.That(string.Concat(deltas), Is.EqualTo("Hello from fake upstream"));
    }

    [Test]
    public async Task DefaultHandler_CountTokens_ReturnsBodyLengthOverFour()
    {
        const string Request = """{"model":"claude-x","messages":[{"role":"user","content":"hi"}]}""";
        using var response = await _client.PostAsync("/v1/messages/count_tokens?beta=true", Json(Request)).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(body["input_tokens"]!.GetValue<int>(), Is.EqualTo(Request.Length / 4));
    }

    [Test]
    public async Task DefaultHandler_ChatCompletions_ReturnsOpenAICompletion()
    {
        using var response = await _client.PostAsync("/v1/chat/completions", Json("""{"model":"gpt-x","messages":[]}""")).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(body["object"]!.GetValue<string>(), Is.EqualTo("chat.completion"));
        Assert.That(body["model"]!.GetValue<string>(), Is.EqualTo("gpt-x"));
        Assert.That(body["choices"]![0]!["message"]!["content"]!.GetValue<string>(), Is.EqualTo("Hello from fake upstream"));
        Assert.That(body["choices"]![0]!["finish_reason"]!.GetValue<string>(), Is.EqualTo("stop"));
        Assert.That(body["usage"]!["total_tokens"]!.GetValue<int>(), Is.EqualTo(15));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task DefaultHandler_ChatCompletionsStream_DataOnlyChunksEndWithDone(bool includeUsage)
    {
        var request = """{"model":"gpt-x","stream":true,"stream_options":{"include_usage":""" + (includeUsage ? "true" : "false") + "}}";
        using var response = await _client.PostAsync("/chat/completions", Json(request)).Bounded();
        var frames = await SseReader.ReadAllAsync(await response.Content.ReadAsStreamAsync().Bounded()).Bounded();

        Assert.That(frames.All(f => f.Event is null), Is.True);
        Assert.That(frames[^1].Data, Is.EqualTo("[DONE]"));
        Assert.That(frames[0].Json!["choices"]![0]!["delta"]!["role"]!.GetValue<string>(), Is.EqualTo("assistant"));
        var text = string.Concat(frames.Select(f => f.Json?["choices"]?.AsArray().FirstOrDefault()?["delta"]?["content"]?.GetValue<string>()));
        Assert.That(text, Is.EqualTo("Hello from fake upstream"));
        var usage = frames.Where(f => f.Json?["usage"] is not null).ToList();
        Assert.That(usage, Has.Count.EqualTo(includeUsage ? 1 : 0));
        if (includeUsage)
        {
            Assert.That(frames[^2], Is.SameAs(usage[0]), "usage comes just before [DONE]");
            Assert.That(usage[0].Json!["choices"]!.AsArray(), Is.Empty);
        }
    }

    [Test]
    public async Task DefaultHandler_ModelsWithAnthropicVersion_ReturnsAnthropicList()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await _client.SendAsync(request).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(body["data"]!.AsArray(), Is.Not.Empty);
        Assert.That(body["data"]![0]!["type"]!.GetValue<string>(), Is.EqualTo("model"));
        Assert.That(body["has_more"]!.GetValue<bool>(), Is.False);
    }

    [Test]
    public async Task DefaultHandler_ModelsWithoutAnthropicVersion_ReturnsOpenAIList()
    {
        var body = JsonNode.Parse(await _client.GetStringAsync("/v1/models").Bounded())!;

        Assert.That(body["object"]!.GetValue<string>(), Is.EqualTo("list"));
        Assert.That(body["data"]![0]!["object"]!.GetValue<string>(), Is.EqualTo("model"));
    }

    [Test]
    public async Task DefaultHandler_UnknownPath_Returns404AnthropicError()
    {
        using var response = await _client.PostAsync("/v1/nothing", Json("{}")).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(body["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("not_found_error"));
        Assert.That(response.Headers.Contains("request-id"), Is.True);
    }

    [Test]
    public async Task Requests_AfterCalls_RecordMethodPathQueryHeadersBodyAndModel()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages?beta=true") { Content = Json("""{"model":"claude-y","stream":false}""") };
        request.Headers.Add("X-Api-Key", "sk-test");
        request.Headers.TryAddWithoutValidation("anthropic-beta", ["a-1", "b-2"]);
        using var response = await _client.SendAsync(request).Bounded();
        using var second = await _client.GetAsync("/v1/models").Bounded();

        var requests = _upstream.Requests;
        Assert.That(requests, Has.Count.EqualTo(2));
        var first = requests[0];
        Assert.That(first.Method, Is.EqualTo("POST"));
        Assert.That(first.Path, Is.EqualTo("/v1/messages"));
        Assert.That(first.QueryString, Is.EqualTo("?beta=true"));
        Assert.That(first.Headers["x-api-key"], Is.EqualTo("sk-test"), "header lookup ignores case");
        Assert.That(first.Header("ANTHROPIC-BETA"), Is.EqualTo("a-1, b-2"));
        Assert.That(first.Body, Is.EqualTo("""{"model":"claude-y","stream":false}"""));
        Assert.That(first.Model, Is.EqualTo("claude-y"));
        Assert.That(first.IsStream, Is.False);
        Assert.That(requests[1].Json, Is.Null);
        Assert.That(requests[1].Model, Is.Null);
    }

    [Test]
    public async Task Handler_Scripted_SeesBodyRecordedBeforeItRuns()
    {
        RecordedRequest? seen = null;
        _upstream.Handler = (request, ctx) =>
        {
            seen = request;
            return FakeAnthropic.WriteErrorAsync(ctx, 529, "overloaded_error", "Overloaded");
        };

        using var response = await _client.PostAsync("/v1/messages", Json("""{"model":"m","stream":true}""")).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That((int)response.StatusCode, Is.EqualTo(529));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("overloaded_error"));
        Assert.That(body["request_id"]!.GetValue<string>(), Is.EqualTo(response.Headers.GetValues("request-id").Single()));
        Assert.That(seen!.IsStream, Is.True);
        Assert.That(_upstream.Requests.Single(), Is.SameAs(seen));
    }

    [Test]
    public async Task WaitForRequestAsync_RequestArrivesLater_CompletesWithIt()
    {
        var wait = _upstream.WaitForRequestAsync(r => r.Model == "late", TimeSpan.FromSeconds(5));
        Assert.That(wait.IsCompleted, Is.False);

        using var other = await _client.PostAsync("/v1/messages", Json("""{"model":"early"}""")).Bounded();
        using var response = await _client.PostAsync("/v1/messages", Json("""{"model":"late"}""")).Bounded();

        Assert.That((await wait.Bounded()).Model, Is.EqualTo("late"));
        Assert.That((await _upstream.WaitForRequestAsync(r => r.Model == "early", TimeSpan.FromSeconds(1)).Bounded()).Model, Is.EqualTo("early"));
    }

    [Test]
    public void WaitForRequestAsync_NoMatch_ThrowsTimeout()
    {
        Assert.That(async () => await _upstream.WaitForRequestAsync(_ => true, TimeSpan.FromMilliseconds(100)).Bounded(), Throws.InstanceOf<TimeoutException>());
    }

    [Test]
    public async Task WriteStreamAsync_HandlerWaitsOnGate_FirstEventArrivesBeforeGateOpens()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
        [
            FakeAnthropic.MessageStart("m"),
            StreamStep.Wait(gate.Task),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "hi"),
            FakeAnthropic.BlockStop(0),
            FakeAnthropic.MessageDelta("end_turn", 1),
            FakeAnthropic.MessageStop(),
        ], ctx.RequestAborted);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = Json("""{"stream":true}""") };
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).Bounded();
        await using var body = await response.Content.ReadAsStreamAsync().Bounded();
        await using var frames = SseReader.ReadAsync(body).GetAsyncEnumerator();

        Assert.That(await frames.MoveNextAsync().Bounded(), Is.True);
        Assert.That(frames.Current.Event, Is.EqualTo("message_start"));
        Assert.That(gate.Task.IsCompleted, Is.False, "the first event was read while the handler still waited");

        gate.SetResult();
        var rest = new List<string?>();
        while (await frames.MoveNextAsync().Bounded())
        {
            rest.Add(frames.Current.Event);
        }

        Assert.That(rest, Is.EqualTo(new[] { "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop" }));
    }

    [Test]
    public async Task WriteStreamAsync_AbortStep_ClientReadFailsAfterEarlierEvents()
    {
        _upstream.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
        [
            FakeAnthropic.MessageStart("m"),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "partial"),
            StreamStep.Abort(),
            FakeAnthropic.MessageStop(),
        ], ctx.RequestAborted);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = Json("""{"stream":true}""") };
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).Bounded();
        await using var body = await response.Content.ReadAsStreamAsync().Bounded();
        var received = new List<string?>();

        Assert.That(async () =>
        {
            await foreach (var frame in SseReader.ReadAsync(body))
            {
                received.Add(frame.Event);
            }
        }, Throws.InstanceOf<IOException>().Or.InstanceOf<HttpRequestException>());
        Assert.That(received, Is.EqualTo(new[] { "message_start", "content_block_start", "content_block_delta" }));
    }

    [Test]
    public async Task WriteStreamAsync_DelayStep_PausesBetweenEvents()
    {
        _upstream.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, [FakeAnthropic.Ping(), StreamStep.Delay(TimeSpan.FromMilliseconds(200)), FakeAnthropic.MessageStop()]);

        var started = System.Diagnostics.Stopwatch.StartNew();
        using var response = await _client.PostAsync("/v1/messages", Json("{}")).Bounded();
        var frames = await SseReader.ReadAllAsync(await response.Content.ReadAsStreamAsync().Bounded()).Bounded();

        Assert.That(frames.Select(f => f.Event), Is.EqualTo(new[] { "ping", "message_stop" }));
        Assert.That(started.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(180)));
    }

    [Test]
    public async Task ToolUseStream_Always_InputJsonDeltasRebuildTheInput()
    {
        var input = new JsonObject { ["city"] = "Paris", ["days"] = 3 };
        _upstream.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx, FakeAnthropic.ToolUseStream("m", "toolu_1", "weather", input));

        using var response = await _client.PostAsync("/v1/messages", Json("{}")).Bounded();
        var frames = await SseReader.ReadAllAsync(await response.Content.ReadAsStreamAsync().Bounded()).Bounded();

        var start = frames.Single(f => f.Event == "content_block_start").Json!["content_block"]!;
        Assert.That(start["type"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(start["name"]!.GetValue<string>(), Is.EqualTo("weather"));
        var json = string.Concat(frames.Where(f => f.Event == "content_block_delta").Select(f => f.Json!["delta"]!["partial_json"]!.GetValue<string>()));
        Assert.That(JsonNode.DeepEquals(JsonNode.Parse(json), input), Is.True);
        Assert.That(frames.Single(f => f.Event == "message_delta").Json!["delta"]!["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
    }

    [Test]
    public async Task WriteMessageAsync_ToolUseBlock_WritesBlocksAndStopReason()
    {
        _upstream.Handler = (_, ctx) => FakeAnthropic.WriteMessageAsync(ctx, "m",
            [FakeAnthropic.TextBlock("calling"), FakeAnthropic.ToolUseBlock("toolu_1", "weather", new JsonObject { ["city"] = "Paris" })],
            stopReason: "tool_use", inputTokens: 7, outputTokens: 3);

        using var response = await _client.PostAsync("/v1/messages", Json("{}")).Bounded();
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync().Bounded())!;

        Assert.That(body["content"]![1]!["input"]!["city"]!.GetValue<string>(), Is.EqualTo("Paris"));
        Assert.That(body["stop_reason"]!.GetValue<string>(), Is.EqualTo("tool_use"));
        Assert.That(body["usage"]!["input_tokens"]!.GetValue<int>(), Is.EqualTo(7));
    }

    [Test]
    public async Task FakeOpenAI_ToolCallStreamAndError_HaveOpenAIShapes()
    {
        _upstream.Handler = (request, ctx) => request.IsStream
            ? FakeOpenAI.WriteChatStreamAsync(ctx,
            [
                FakeOpenAI.RoleChunk(),
                FakeOpenAI.ToolCallChunk(0, "call_1", "weather", ""),
                FakeOpenAI.ToolCallChunk(0, null, null, """{"city":"Paris"}"""),
                FakeOpenAI.FinishChunk("tool_calls"),
                FakeOpenAI.UsageChunk(11, 7, 4),
                FakeOpenAI.Done(),
            ])
            : FakeOpenAI.WriteErrorAsync(ctx, 429, "insufficient_quota", "quota", "insufficient_quota");

        using var streamed = await _client.PostAsync("/v1/chat/completions", Json("""{"stream":true}""")).Bounded();
        var frames = await SseReader.ReadAllAsync(await streamed.Content.ReadAsStreamAsync().Bounded()).Bounded();
        using var failed = await _client.PostAsync("/v1/chat/completions", Json("{}")).Bounded();
        var error = JsonNode.Parse(await failed.Content.ReadAsStringAsync().Bounded())!;

        var firstCall = frames[1].Json!["choices"]![0]!["delta"]!["tool_calls"]![0]!;
        Assert.That(firstCall["id"]!.GetValue<string>(), Is.EqualTo("call_1"));
        Assert.That(firstCall["function"]!["name"]!.GetValue<string>(), Is.EqualTo("weather"));
        Assert.That(frames[2].Json!["choices"]![0]!["delta"]!["tool_calls"]![0]!.AsObject().ContainsKey("id"), Is.False);
        Assert.That(frames[4].Json!["usage"]!["prompt_tokens_details"]!["cached_tokens"]!.GetValue<int>(), Is.EqualTo(4));
        Assert.That((int)failed.StatusCode, Is.EqualTo(429));
        Assert.That(error["error"]!["type"]!.GetValue<string>(), Is.EqualTo("insufficient_quota"));
        Assert.That(error["error"]!["code"]!.GetValue<string>(), Is.EqualTo("insufficient_quota"));
        Assert.That(error["error"]!.AsObject().ContainsKey("param"), Is.True);
    }

    [Test]
    public async Task StartAsync_WithOptions_StreamsRequestedNumberOfDeltas()
    {
        await using var upstream = await FakeUpstream.StartAsync(0, new FakeUpstreamOptions { TextEvents = 200 }).Bounded();
        using var client = TestTimeouts.NewClient();

        using var response = await client.PostAsync(new Uri(upstream.BaseUrl, "/v1/messages"), Json("""{"model":"m","stream":true}""")).Bounded();
        var frames = await SseReader.ReadAllAsync(await response.Content.ReadAsStreamAsync().Bounded()).Bounded();

        Assert.That(frames.Count(f => f.Event == "content_block_delta"), Is.EqualTo(200));
        Assert.That(frames.Where(f => f.Event == "content_block_delta").All(f => f.Json!["delta"]!["text"]!.GetValue<string>().Length > 0), Is.True);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
}
