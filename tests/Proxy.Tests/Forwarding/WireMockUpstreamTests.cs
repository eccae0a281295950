using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Forwarding;

/// <summary>
/// The gateway against a WireMock.Net upstream, where its features fit better than the home-made fake: the
/// upstream answers only a request that matches what the gateway must send (mapped model, channel key, its own
/// host), keeps state between calls (overloaded, then recovered), streams SSE as it writes it, and keeps a log
/// of what it received. Cuts, resets and stalls stay with the Kestrel fake (tests/TestSupport/FakeUpstream.cs):
/// WireMock cannot end a stream mid-way.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class WireMockUpstreamTests
{
    private const string Body = """{"model":"claude-opus-4-7","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}""";

    private static readonly string s_message = """
        {"id":"msg_wm","type":"message","role":"assistant","model":"up-opus","content":[{"type":"text","text":"from wiremock"}],
         "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":3}}
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

    private Task<TestGateway> GatewayAsync() => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["main.json"] = TestGateway.AnthropicChannel(new Uri(_upstream.Url!), """ "modelMapping": { "opus": "up-opus" } """),
    });

    /// <summary>Only what the gateway must send matches: the mapped model, the channel's key, a JSON body.</summary>
    private IRequestBuilder MessagesRequest() => Request.Create()
        .WithPath("/v1/messages").UsingPost()
        .WithHeader("x-api-key", FakeKeys.Upstream)
        .WithHeader("anthropic-version", "2023-06-01")
        .WithBody(new JsonPartialMatcher("""{"model":"up-opus"}"""));

    [Test]
    public async Task Overloaded_ThenRecovered_ClientSees529ThenTheAnswer_UpstreamSawOnlyTheChannelsCredentials()
    {
        _upstream.Given(MessagesRequest()).InScenario("overload").WillSetStateTo("recovered")
            .RespondWith(Response.Create().WithStatusCode(529).WithHeader("Content-Type", "application/json")
                .WithBody("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"""));
        _upstream.Given(MessagesRequest()).InScenario("overload").WhenStateIs("recovered")
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(s_message));
        await using var gateway = await GatewayAsync();

        var (first, firstJson) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));
        var (second, secondJson) = await gateway.SendAsync(gateway.Post("/v1/messages", Body));

        Assert.That((int)first.StatusCode, Is.EqualTo(529), firstJson?.ToJsonString());
        Assert.That(firstJson!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("overloaded_error"));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK), secondJson?.ToJsonString());
        Assert.That(secondJson!["model"]!.GetValue<string>(), Is.EqualTo("claude-opus-4-7"), "the client sees the name it asked for");
        Assert.That(secondJson["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo("from wiremock"));

        var received = _upstream.LogEntries.Select(e => e.RequestMessage).ToList();
        Assert.That(received, Has.Count.EqualTo(2));
        foreach (var request in received)
        {
            var headers = request.Headers!;
            Assert.That(headers.ContainsKey("Authorization"), Is.False);
            Assert.That(string.Join(",", headers.Values.SelectMany(v => v)), Does.Not.Contain(TestGateway.AccessKey));
            Assert.That(headers["Host"].Single(), Is.EqualTo(new Uri(_upstream.Url!).Authority));
        }
    }

    [Test]
    public async Task RequestTheGatewayMustNotSend_MatchesNothing()
    {
        // A model the channel does not map: the upstream has no mapping for it and answers 404.
        _upstream.Given(MessagesRequest()).RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(s_message));
        await using var gateway = await GatewayAsync();

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body.Replace("claude-opus-4-7", "claude-sonnet-4-6", StringComparison.Ordinal)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(_upstream.LogEntries.Single().RequestMessage.Body, Does.Contain("\"claude-sonnet-4-6\""));
    }

    [TestCase("/v1/messages", "message_stop")]
    [TestCase("/v1/chat/completions", "[DONE]")]
    public async Task SseFromWireMock_RelayedAndConverted_EventByEvent(string path, string last)
    {
        _upstream.Given(MessagesRequest()).RespondWith(Response.Create()
            .WithStatusCode(200)
            .WithHeader("Content-Type", "text/event-stream")
            .WithSseBody(async (_, queue) =>
            {
                foreach (var frame in AnthropicStream())
                {
                    queue.Write(frame);
                    await Task.Delay(10);
                }

                queue.Close();
            }));
        await using var gateway = await GatewayAsync();
        var chat = path.Contains("chat", StringComparison.Ordinal);
        var body = chat
            ? """{"model":"claude-opus-4-7","stream":true,"messages":[{"role":"user","content":"hi"}]}"""
            : Body.Replace("\"max_tokens\":64", "\"max_tokens\":64,\"stream\":true", StringComparison.Ordinal);

        using var response = await gateway.Client.SendAsync(gateway.Post(path, body, bearer: chat), HttpCompletionOption.ResponseHeadersRead);
        var frames = new List<SseFrame>();
        await foreach (var frame in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()))
        {
            frames.Add(frame);
        }

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var text = string.Concat(frames.Where(f => f.Data.Contains("Hel", StringComparison.Ordinal) || f.Data.Contains("lo!", StringComparison.Ordinal))
            .Select(f => JsonNode.Parse(f.Data)!).Select(n => chat ? n["choices"]![0]!["delta"]!["content"]!.GetValue<string>() : n["delta"]!["text"]!.GetValue<string>()));
        Assert.That(text, Is.EqualTo("Hello!"));
        Assert.That(chat ? frames[^1].Data : frames[^1].Event, Is.EqualTo(last));
    }

    private static IEnumerable<string> AnthropicStream()
    {
        static string Frame(string type, string data) => $"event: {type}\ndata: {data}\n\n";
        yield return Frame("message_start", """{"type":"message_start","message":{"id":"msg_wm","type":"message","role":"assistant","model":"up-opus","content":[],"stop_reason":null,"usage":{"input_tokens":7,"output_tokens":1}}}""");
        yield return Frame("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""");
        yield return Frame("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}""");
        yield return Frame("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo!"}}""");
        yield return Frame("content_block_stop", """{"type":"content_block_stop","index":0}""");
        yield return Frame("message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}""");
        yield return Frame("message_stop", """{"type":"message_stop"}""");
    }
}
