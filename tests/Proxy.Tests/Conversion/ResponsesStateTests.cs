#pragma warning disable OPENAI001 // The SDK's Responses client is marked experimental.
using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using OpenAI.Responses;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Conversion;

/// <summary>
/// OpenAI Responses conversation state: a response the client did not mark <c>store: false</c> is kept under its key,
/// so <c>previous_response_id</c> continues the conversation on any replica sharing the Redis, for a channel that
/// keeps no state itself; it can be read, listed and deleted by its own key and by no other.
/// </summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class ResponsesStateTests
{
    private static void AnswerWithTurnCount(WireMockServer upstream) =>
        upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost()).RespondWith(Response.Create().WithAnswer(request =>
        {
            var turns = request.Json!["messages"]!.AsArray().Count;
            var text = $"answer to {turns} turn(s)";
            return request.IsStream
                ? StockAnswer.OfStream(FakeAnthropic.TextStream("up", text, 2))
                : StockAnswer.OfJson(200, FakeAnthropic.Message("up", [FakeAnthropic.TextBlock(text)]));
        }));

    private static ResponsesClient Client(TestGateway gateway, string key = TestGateway.AccessKey) => new(new ApiKeyCredential(key),
        new ResponsesClientOptions { Endpoint = new Uri(gateway.BaseUrl, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private static HttpRequestMessage Authorized(HttpMethod method, string path, string key = TestGateway.AccessKey)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return request;
    }

    [Test]
    [Category("Redis")]
    public async Task TwoGateways_OneRedis_PreviousResponseId_ContinuesTheConversationOnTheOtherReplica()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.Start();
        AnswerWithTurnCount(upstream);
        var channels = new Dictionary<string, string> { ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) };
        var settings = new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString, ["Responses:StoreSeconds"] = "3600" };
        await using var a = await TestGateway.StartAsync(channels, settings);
        await using var b = await TestGateway.StartAsync(channels, settings);

        ResponseResult first = await Client(a).CreateResponseAsync("claude-sonnet-4-6", [ResponseItem.CreateUserMessageItem("first question")]);
        var options = new CreateResponseOptions { Model = "claude-sonnet-4-6", PreviousResponseId = first.Id, StreamingEnabled = true };
        options.InputItems.Add(ResponseItem.CreateUserMessageItem("second question"));
        ResponseResult? second = null;
        await foreach (var update in await Client(b).CreateResponseStreamingAsync(options))
        {
            second = update is StreamingResponseCompletedUpdate done ? done.Response : second;
        }

        Assert.That(first.GetOutputText(), Is.EqualTo("answer to 1 turn(s)"));
        Assert.That(second!.GetOutputText(), Is.EqualTo("answer to 3 turn(s)"), "gateway b put the first exchange before the second question");
        var messages = upstream.Received()[1].Json!["messages"]!.AsArray();
        Assert.That(messages.Select(m => m!["role"]!.GetValue<string>()), Is.EqualTo(new[] { "user", "assistant", "user" }));
        Assert.That(messages[1]!.ToJsonString(), Does.Contain("answer to 1 turn(s)"));

        // The second answer is kept too (before its stream ended), with its whole input, and readable from the first replica.
        ResponseResult read = await Client(a).GetResponseAsync(second.Id);
        Assert.That(read.GetOutputText(), Is.EqualTo("answer to 3 turn(s)"));
        var (listed, json) = await a.SendAsync(Authorized(HttpMethod.Get, $"/v1/responses/{second.Id}/input_items?order=asc"));
        Assert.That(listed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["data"]!.AsArray().Select(i => i!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "message", "message", "message" }));
        Assert.That(json["data"]![2]!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("second question"));

        // Kept in Redis under a name that holds neither the key nor the id.
        var keys = (await redis.CommandAsync("KEYS", "ccx:responses:*")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(keys, Has.Length.EqualTo(2));
        Assert.That(keys, Has.All.Match("^ccx:responses:[0-9a-f]{64}$"));
        var ttl = int.Parse(await redis.CommandAsync("TTL", keys[0]), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(ttl, Is.InRange(3000, 3600), "kept for Responses:StoreSeconds");
    }

    [Test]
    public async Task AnotherKey_CannotRead_Continue_OrDelete_AndDeletedIsGone()
    {
        using var upstream = WireMockUpstream.Start();
        AnswerWithTurnCount(upstream);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) });
        ResponseResult mine = await Client(gateway).CreateResponseAsync("claude-sonnet-4-6", [ResponseItem.CreateUserMessageItem("mine")]);

        var (read, readJson) = await gateway.SendAsync(Authorized(HttpMethod.Get, $"/v1/responses/{mine.Id}", TestGateway.SecondAccessKey));
        var continued = await Assert.ThrowsAsync<ClientResultException>(() =>
            Client(gateway, TestGateway.SecondAccessKey).CreateResponseAsync("claude-sonnet-4-6", [ResponseItem.CreateUserMessageItem("yours?")], mine.Id));
        var (deleted, _) = await gateway.SendAsync(Authorized(HttpMethod.Delete, $"/v1/responses/{mine.Id}", TestGateway.SecondAccessKey));

        Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(readJson!["error"]!["code"]!.GetValue<string>(), Is.EqualTo("response_not_found"));
        Assert.That(continued!.Status, Is.EqualTo(404));
        Assert.That(continued.GetRawResponse()!.Content.ToString(), Does.Contain("previous_response_not_found"));
        Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(upstream.Received(), Has.Count.EqualTo(1), "a refused previous_response_id never reaches the upstream");

        var (own, ownJson) = await gateway.SendAsync(Authorized(HttpMethod.Delete, $"/v1/responses/{mine.Id}"));
        var (gone, _) = await gateway.SendAsync(Authorized(HttpMethod.Get, $"/v1/responses/{mine.Id}"));
        Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(ownJson!["deleted"]!.GetValue<bool>(), Is.True);
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task KeptAnswer_IsWhatTheClientGot_ScrubbedOfTheChannelsKey()
    {
        using var upstream = WireMockUpstream.Start();
        // An upstream that echoes the request's key in its answer: neither the client nor the kept copy may hold it.
        upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost()).RespondWith(Response.Create().WithAnswer(request =>
            StockAnswer.OfJson(200, FakeAnthropic.Message("up", [FakeAnthropic.TextBlock("your key is " + request.Header("x-api-key"))]))));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) });

        ResponseResult answer = await Client(gateway).CreateResponseAsync("claude-sonnet-4-6", [ResponseItem.CreateUserMessageItem("leak?")]);
        ResponseResult kept = await Client(gateway).GetResponseAsync(answer.Id);

        Assert.That(answer.GetOutputText(), Is.EqualTo("your key is [redacted]"));
        Assert.That(kept.GetOutputText(), Is.EqualTo("your key is [redacted]"));
        Assert.That(kept.Id, Is.EqualTo(answer.Id));
    }

    [Test]
    public async Task StoreFalse_AsCodexSends_NothingIsKept()
    {
        using var upstream = WireMockUpstream.Start();
        AnswerWithTurnCount(upstream);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["claude.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) });

        var (answer, json) = await gateway.SendAsync(gateway.Post("/v1/responses", """{"model":"claude-sonnet-4-6","input":"hi","store":false}""", bearer: true));
        var id = json!["id"]!.GetValue<string>();
        var (read, _) = await gateway.SendAsync(Authorized(HttpMethod.Get, $"/v1/responses/{id}"));

        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json["store"]!.GetValue<bool>(), Is.False);
        Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }
}
