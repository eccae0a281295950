using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Anthropic;
using Anthropic.Models.Messages;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using CcxProxy.Tests.Telemetry;
using OpenAI;
using OpenAI.Chat;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.Server;
using Response = WireMock.ResponseBuilders.Response;

namespace CcxProxy.Tests.Caching;

/// <summary>
/// The exact-match response cache a group turns on in groups.json, in one gateway with its in-memory default:
/// a second identical request is answered without the upstream (WireMock's request log says how often it was
/// asked), a streamed hit is a valid stream in the caller's protocol read by the official SDKs, and only whole,
/// successful answers are kept. Cut streams come from the Kestrel fake, which WireMock cannot produce.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ResponseCacheTests
{
    private const string Groups = """{"groups": {"default": {"cache": {"ttlSeconds": 3600}}}}""";

    private static readonly string s_message = """
        {"id":"msg_cached","type":"message","role":"assistant","model":"up-sonnet","content":[{"type":"text","text":"kept for later"}],
         "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":5}}
        """;

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.Start();

    [TearDown]
    public void TearDown()
    {
        _upstream.Stop();
        _upstream.Dispose();
    }

    private Task<TestGateway> GatewayAsync(string groups = Groups, IDictionary<string, string?>? settings = null) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["claude.json"] = TestGateway.AnthropicChannel(new Uri(_upstream.Url!), """ "models": ["claude-*"], "modelMapping": { "sonnet": "up-sonnet" } """),
        ["groups.json"] = groups,
    }, settings);

    private static string Body(string text = "hi", string extra = "") =>
        $$"""{"model":"claude-sonnet-4-6","max_tokens":64{{extra}},"messages":[{"role":"user","content":"{{text}}"}]}""";

    private void AnswerJson() => _upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost().WithBody(new JsonPartialMatcher("""{"model":"up-sonnet"}""")))
        .AtPriority(10)
        .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(s_message));

    private void AnswerStream() => _upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost().WithBody(new JsonPartialMatcher("""{"stream":true}""")))
        .AtPriority(1)
        .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "text/event-stream").WithSseBody(async (_, queue) =>
        {
            foreach (var frame in AnthropicStream())
            {
                queue.Write(frame);
                await Task.Delay(5);
            }

            queue.Close();
        }));

    private int UpstreamCalls => _upstream.LogEntries.Count();

    private static string WithoutPings(string sse) => sse.Replace("event: ping\ndata: {\"type\":\"ping\"}\n\n", "", StringComparison.Ordinal);

    private static string? CacheHeader(HttpResponseMessage response) =>
        response.Headers.TryGetValues("x-ccx-cache", out var values) ? values.Single() : null;

    /// <summary>Waits for the end of the request (its log line is written after the answer is stored).</summary>
    private static Task EndedAsync(TestGateway gateway, HttpResponseMessage response)
    {
        var id = response.Headers.GetValues("x-request-id").Single();
        return Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains($"request {id} ", StringComparison.Ordinal)), "the request's log line");
    }

    private static async Task<(HttpResponseMessage Response, string Body)> SendAsync(TestGateway gateway, HttpRequestMessage request)
    {
        var response = await gateway.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        await EndedAsync(gateway, response);
        return (response, body);
    }

    [Test]
    public async Task SecondIdenticalRequest_AnsweredFromTheCache_UpstreamAskedOnce()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync();

        var (first, firstBody) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        // The same request spelled differently (member order, whitespace) is the same request.
        var (second, secondBody) = await SendAsync(gateway, gateway.Post("/v1/messages",
            """{ "messages": [ { "content": "hi", "role": "user" } ], "max_tokens": 64, "model": "claude-sonnet-4-6" }"""));

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK), firstBody);
        Assert.That(CacheHeader(first), Is.EqualTo("miss"));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK), secondBody);
        Assert.That(CacheHeader(second), Is.EqualTo("hit"));
        Assert.That(second.Headers.Age, Is.Not.Null.And.LessThan(TimeSpan.FromMinutes(1)));
        Assert.That(second.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        Assert.That(secondBody, Is.EqualTo(firstBody));
        Assert.That(JsonNode.Parse(secondBody)!["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-6"), "the name the client asked for");
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task AnotherNameMappedToTheSameUpstreamModel_SharesTheEntry_AndSeesItsOwnName()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync();

        await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (second, body) = await SendAsync(gateway, gateway.Post("/v1/messages", Body().Replace("claude-sonnet-4-6", "claude-sonnet-4-5", StringComparison.Ordinal)));

        Assert.That(CacheHeader(second), Is.EqualTo("hit"), "keyed by what the upstream is sent: both names map to up-sonnet");
        Assert.That(JsonNode.Parse(body)!["model"]!.GetValue<string>(), Is.EqualTo("claude-sonnet-4-5"));
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [TestCase(", \"temperature\": 0.5", TestName = "DifferentSamplingParameter_Miss")]
    [TestCase(", \"stream\": false, \"system\": \"be brief\"", TestName = "DifferentSystemPrompt_Miss")]
    public async Task DifferentRequest_Miss(string extra)
    {
        AnswerJson();
        await using var gateway = await GatewayAsync();

        await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (second, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body(extra: extra)));

        Assert.That(CacheHeader(second), Is.EqualTo("miss"));
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    [Test]
    public async Task DifferentAnthropicBeta_Miss_SameBetaHit()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync();
        HttpRequestMessage WithBeta(string beta)
        {
            var request = gateway.Post("/v1/messages", Body());
            request.Headers.Add("anthropic-beta", beta);
            return request;
        }

        await SendAsync(gateway, WithBeta("context-1m-2025-08-07"));
        var (other, _) = await SendAsync(gateway, WithBeta("interleaved-thinking-2025-05-14"));
        var (same, _) = await SendAsync(gateway, WithBeta("context-1m-2025-08-07"));

        Assert.That(CacheHeader(other), Is.EqualTo("miss"), "a beta can change the answer: part of the key");
        Assert.That(CacheHeader(same), Is.EqualTo("hit"));
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    [Test]
    public async Task StreamedHit_TheSameEventsAsTheFirstAnswer()
    {
        AnswerStream();
        await using var gateway = await GatewayAsync();
        var body = Body(extra: ", \"stream\": true");

        var (first, firstBody) = await SendAsync(gateway, gateway.Post("/v1/messages", body));
        var (second, secondBody) = await SendAsync(gateway, gateway.Post("/v1/messages", body));

        Assert.That(CacheHeader(first), Is.EqualTo("miss"));
        Assert.That(CacheHeader(second), Is.EqualTo("hit"));
        Assert.That(second.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
        Assert.That(secondBody, Is.EqualTo(WithoutPings(firstBody)), "keep-alives are not part of the answer");
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task StreamedHit_ForAGeminiClientsJsonArray_StaysOneJsonArray()
    {
        AnswerStream();
        await using var gateway = await GatewayAsync();
        HttpRequestMessage Gemini()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1beta/models/claude-sonnet-4-6:streamGenerateContent")
            {
                Content = new StringContent("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("x-goog-api-key", TestGateway.AccessKey);
            return request;
        }

        var (first, firstBody) = await SendAsync(gateway, Gemini());
        var (second, secondBody) = await SendAsync(gateway, Gemini());

        Assert.That((CacheHeader(first), CacheHeader(second)), Is.EqualTo(("miss", "hit")));
        Assert.That(second.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"), "framed as the client asked, from the cache too");
        Assert.That(System.Text.Json.Nodes.JsonNode.Parse(secondBody)!.AsArray().Count, Is.EqualTo(System.Text.Json.Nodes.JsonNode.Parse(firstBody)!.AsArray().Count));
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task StreamedHit_ReadByTheAnthropicSdk()
    {
        AnswerStream();
        await using var gateway = await GatewayAsync();
        using var client = new AnthropicClient { ApiKey = TestGateway.AccessKey, BaseUrl = gateway.BaseUrl.GetLeftPart(UriPartial.Authority), MaxRetries = 0 };

        async Task<(string Text, string Last)> AskAsync()
        {
            var text = new StringBuilder();
            var last = "";
            await foreach (var ev in client.Messages.CreateStreaming(new MessageCreateParams
            {
                Model = "claude-sonnet-4-6", MaxTokens = 64, Messages = [new UserMessageParam { Content = "hi" }],
            }))
            {
                last = ev.Type.Raw();
                if (ev.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickText(out var piece))
                {
                    text.Append(piece!.Text);
                }
            }

            return (text.ToString(), last);
        }

        var first = await AskAsync();
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains("response cache miss", StringComparison.Ordinal)), "the first request's end");
        var second = await AskAsync();
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains("response cache hit", StringComparison.Ordinal)), "a hit");

        Assert.That(first, Is.EqualTo(("Hello!", "message_stop")));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task StreamedHit_ForAChatClient_ConvertedFromTheAnthropicAnswer_ReadByTheOpenAISdk()
    {
        AnswerStream();
        await using var gateway = await GatewayAsync();
        var client = new ChatClient("claude-sonnet-4-6", new ApiKeyCredential(TestGateway.AccessKey),
            new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

        async Task<(string Text, ChatFinishReason? Finish)> AskAsync()
        {
            var text = new StringBuilder();
            ChatFinishReason? finish = null;
            await foreach (var update in client.CompleteChatStreamingAsync([new UserChatMessage("hi")]))
            {
                text.Append(string.Concat(update.ContentUpdate.Select(p => p.Text)));
                finish ??= update.FinishReason;
            }

            return (text.ToString(), finish);
        }

        var first = await AskAsync();
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains("response cache miss", StringComparison.Ordinal)), "the first request's end");
        var second = await AskAsync();
        await Poll.UntilAsync(() => gateway.Logs.Lines.Any(l => l.Contains("response cache hit", StringComparison.Ordinal)), "a hit");

        Assert.That(first, Is.EqualTo(("Hello!", (ChatFinishReason?)ChatFinishReason.Stop)));
        Assert.That(second, Is.EqualTo(first));
        Assert.That(UpstreamCalls, Is.EqualTo(1));
    }

    [Test]
    public async Task StreamedAndPlainRequests_AreDifferentRequests()
    {
        AnswerJson();
        AnswerStream();
        await using var gateway = await GatewayAsync();

        await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (stream, body) = await SendAsync(gateway, gateway.Post("/v1/messages", Body(extra: ", \"stream\": true")));

        Assert.That(CacheHeader(stream), Is.EqualTo("miss"));
        Assert.That(body, Does.Contain("event: message_stop"));
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    [Test]
    public async Task NoCache_AsksTheUpstream_AndRefreshesTheEntry_NoStore_KeepsNothing()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync();
        HttpRequestMessage With(string cacheControl)
        {
            var request = gateway.Post("/v1/messages", Body());
            request.Headers.TryAddWithoutValidation("Cache-Control", cacheControl);
            return request;
        }

        var (noStore, _) = await SendAsync(gateway, With("no-store"));
        var (afterNoStore, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (noCache, _) = await SendAsync(gateway, With("no-cache"));
        var (hit, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));

        Assert.That(CacheHeader(noStore), Is.EqualTo("bypass"));
        Assert.That(CacheHeader(afterNoStore), Is.EqualTo("miss"), "no-store kept nothing");
        Assert.That(CacheHeader(noCache), Is.EqualTo("bypass"));
        Assert.That(CacheHeader(hit), Is.EqualTo("hit"));
        Assert.That(UpstreamCalls, Is.EqualTo(3));
    }

    [Test]
    public async Task OnRequestGroup_CachesOnlyWhatAsksForIt()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync("""{"groups": {"default": {"cache": {"ttlSeconds": 60, "mode": "on-request"}}}}""");
        HttpRequestMessage Asking()
        {
            var request = gateway.Post("/v1/messages", Body());
            request.Headers.Add("x-ccx-cache", "use");
            return request;
        }

        var (plain, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (asked, _) = await SendAsync(gateway, Asking());
        var (plainAgain, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (askedAgain, _) = await SendAsync(gateway, Asking());

        Assert.That(CacheHeader(plain), Is.Null, "not a cacheable request: no header");
        Assert.That(CacheHeader(asked), Is.EqualTo("miss"));
        Assert.That(CacheHeader(plainAgain), Is.Null);
        Assert.That(CacheHeader(askedAgain), Is.EqualTo("hit"));
        Assert.That(UpstreamCalls, Is.EqualTo(3));
    }

    [Test]
    public async Task GroupWithoutCache_NoHeader_EveryRequestForwarded()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync("""{"groups": {"default": {}}}""");

        var (first, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (second, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));

        Assert.That(CacheHeader(first), Is.Null);
        Assert.That(CacheHeader(second), Is.Null);
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    [Test]
    public async Task UpstreamErrors_NeverKept_HeaderOnEveryAnswer()
    {
        var matching = Request.Create().WithPath("/v1/messages").UsingPost();
        _upstream.Given(matching).InScenario("flaky").WillSetStateTo("bad request")
            .RespondWith(Response.Create().WithStatusCode(529).WithHeader("Content-Type", "application/json")
                .WithBody("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"""));
        _upstream.Given(matching).InScenario("flaky").WhenStateIs("bad request").WillSetStateTo("fine")
            .RespondWith(Response.Create().WithStatusCode(400).WithHeader("Content-Type", "application/json")
                .WithBody("""{"type":"error","error":{"type":"invalid_request_error","message":"nope"}}"""));
        _upstream.Given(matching).InScenario("flaky").WhenStateIs("fine")
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(s_message));
        await using var gateway = await GatewayAsync();

        var statuses = new List<(int, string?)>();
        for (var i = 0; i < 4; i++)
        {
            var (response, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
            statuses.Add(((int)response.StatusCode, CacheHeader(response)));
        }

        Assert.That(statuses, Is.EqualTo(new[] { (529, "miss"), (400, "miss"), (200, "miss"), (200, (string?)"hit") }));
        Assert.That(UpstreamCalls, Is.EqualTo(3));
    }

    [Test]
    public async Task GatewayErrorAfterTheLookup_StillSaysMiss()
    {
        // Nothing listens where the channel points: the gateway's own 502, written after the cache was asked.
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["claude.json"] = TestGateway.AnthropicChannel(new Uri($"http://127.0.0.1:{FreePort.Get()}")),
            ["groups.json"] = Groups,
        });

        var (response, body) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway), body);
        Assert.That(CacheHeader(response), Is.EqualTo("miss"));
    }

    [Test]
    public async Task AnswerLargerThanMaxEntryBytes_RelayedWhole_NotKept()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync("""{"groups": {"default": {"cache": {"ttlSeconds": 60, "maxEntryBytes": 64}}}}""");

        var (first, body) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (second, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));

        Assert.That(JsonNode.Parse(body)!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("kept for later"));
        Assert.That(CacheHeader(first), Is.EqualTo("miss"));
        Assert.That(CacheHeader(second), Is.EqualTo("miss"));
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    [Test]
    public async Task CutStream_NeverKept()
    {
        // A stream cut mid-way: the Kestrel fake, which WireMock cannot be.
        await using var upstream = await FakeUpstream.StartAsync();
        var calls = 0;
        upstream.Handler = (_, ctx) => Interlocked.Increment(ref calls) == 1
            ? FakeAnthropic.WriteStreamAsync(ctx, [.. FakeAnthropic.TextStream("m", "cut short", 3).Take(4), StreamStep.Abort()], ctx.RequestAborted)
            : FakeAnthropic.WriteStreamAsync(ctx, FakeAnthropic.TextStream("m", "whole", 3), ctx.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl),
            ["groups.json"] = Groups,
        });
        var body = Body(extra: ", \"stream\": true");

        var (cut, cutBody) = await SendAsync(gateway, gateway.Post("/v1/messages", body));
        var (whole, wholeBody) = await SendAsync(gateway, gateway.Post("/v1/messages", body));
        var (hit, hitBody) = await SendAsync(gateway, gateway.Post("/v1/messages", body));

        Assert.That(cutBody, Does.Contain("event: error"));
        Assert.That(CacheHeader(cut), Is.EqualTo("miss"));
        Assert.That(CacheHeader(whole), Is.EqualTo("miss"), "the cut stream was not kept");
        Assert.That(wholeBody, Does.Contain("message_stop"));
        Assert.That(CacheHeader(hit), Is.EqualTo("hit"));
        Assert.That(hitBody, Is.EqualTo(WithoutPings(wholeBody)));
        Assert.That(calls, Is.EqualTo(2));
    }

    [Test]
    public async Task Hit_CountedAsCachedUsage_NoTokens_AndStillCountsAgainstTheRateLimit()
    {
        AnswerJson();
        await using var gateway = await GatewayAsync("""{"groups": {"default": {"cache": {"ttlSeconds": 60}, "limits": {"requestsPerMinute": 2}}}}""");

        var (first, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (hit, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));
        var (third, thirdBody) = await SendAsync(gateway, gateway.Post("/v1/messages", Body()));

        Assert.That(CacheHeader(hit), Is.EqualTo("hit"));
        Assert.That(third.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "a hit is still a request: " + thirdBody);

        using var usage = new HttpRequestMessage(HttpMethod.Get, "/admin/usage?dimension=group&name=default");
        usage.Headers.Add("x-api-key", TestGateway.AdminKey);
        var (_, totals) = await gateway.SendAsync(usage);
        Assert.That(totals!["requests"]!.GetValue<long>(), Is.EqualTo(2));
        Assert.That(totals["cached_requests"]!.GetValue<long>(), Is.EqualTo(1));
        Assert.That(totals["input_tokens"]!.GetValue<long>(), Is.EqualTo(11), "the hit cost no upstream tokens");
        Assert.That(totals["output_tokens"]!.GetValue<long>(), Is.EqualTo(5));
        Assert.That(gateway.Logs.Lines.Count(l => l.Contains("response cache hit", StringComparison.Ordinal) && l.Contains("tokens in 0 out 0", StringComparison.Ordinal)),
            Is.EqualTo(1));
    }

    [Test]
    public async Task CountTokens_NeverCached()
    {
        _upstream.Given(Request.Create().WithPath("/v1/messages/count_tokens").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody("""{"input_tokens":9}"""));
        await using var gateway = await GatewayAsync();

        var (first, _) = await SendAsync(gateway, gateway.Post("/v1/messages/count_tokens", Body()));
        var (second, _) = await SendAsync(gateway, gateway.Post("/v1/messages/count_tokens", Body()));

        Assert.That(CacheHeader(first), Is.Null);
        Assert.That(CacheHeader(second), Is.Null);
        Assert.That(UpstreamCalls, Is.EqualTo(2));
    }

    private static IEnumerable<string> AnthropicStream()
    {
        static string Frame(string type, string data) => $"event: {type}\ndata: {data}\n\n";
        yield return Frame("message_start", """{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"up-sonnet","content":[],"stop_reason":null,"usage":{"input_tokens":7,"output_tokens":1}}}""");
        yield return Frame("ping", """{"type":"ping"}""");
        yield return Frame("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
        yield return Frame("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}""");
        yield return Frame("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo!"}}""");
        yield return Frame("content_block_stop", """{"type":"content_block_stop","index":0}""");
        yield return Frame("message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}""");
        yield return Frame("message_stop", """{"type":"message_stop"}""");
    }
}
