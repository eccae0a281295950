using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Session affinity (<c>Routing:SessionAffinity</c>): one conversation stays on one channel, key and destination
/// while they are healthy, so the upstream's prompt cache keeps hitting, whether the conversation is named by
/// Claude Code's <c>X-Claude-Code-Session-Id</c>, by the session in <c>metadata.user_id</c>, or only by its
/// first two messages; conversations spread
/// over channels of equal priority; a failing channel loses its conversations to the others; with affinity
/// off, identical requests rotate. The split is a deterministic function of the ids, so the ids are fixed.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SessionAffinityTests : TwoProviders
{
    private const string SessionHeader = "X-Claude-Code-Session-Id";

    private Task<TestGateway> TwoChannelsAsync(Dictionary<string, string?>? settings = null) => TestGateway.StartAsync(new Dictionary<string, string>
    {
        ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl()),
        ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl()),
    }, settings);

    private static string Body(string text, string? userId = null)
    {
        var body = new JsonObject
        {
            ["model"] = "claude-sonnet-4-6",
            ["max_tokens"] = 8,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
        };
        if (userId is not null)
        {
            body["metadata"] = new JsonObject { ["user_id"] = userId };
        }

        return body.ToJsonString();
    }

    private static string Conversation(params string[] turns) => new JsonObject
    {
        ["model"] = "claude-sonnet-4-6",
        ["max_tokens"] = 8,
        ["messages"] = new JsonArray([.. turns.Select((text, i) => (JsonNode)new JsonObject { ["role"] = i % 2 == 0 ? "user" : "assistant", ["content"] = text })]),
    }.ToJsonString();

    /// <summary>Claude Code 2.1's <c>metadata.user_id</c>: a JSON object encoded as a string.</summary>
    private static string UserId(string session) => new JsonObject
    {
        ["device_id"] = "3f9a0c6e1b2d4f5a8c7e9d0b1a2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d",
        ["account_uuid"] = "",
        ["session_id"] = session,
    }.ToJsonString();

    /// <summary>Sends one conversation turn (which must succeed) and says which upstream answered it.</summary>
    private async Task<WireMockServer> SendAsync(TestGateway gateway, string body, string? session)
    {
        var (a, b) = (A.Received().Count, B.Received().Count);
        var request = gateway.Post("/v1/messages", body);
        if (session is not null)
        {
            request.Headers.Add(SessionHeader, session);
        }

        var (response, json) = await gateway.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(A.Received().Count - a + B.Received().Count - b, Is.EqualTo(1), "one upstream request");
        return A.Received().Count > a ? A : B;
    }

    [Test]
    public async Task SameSession_AlwaysSameChannel_DistinctSessionsSpreadOverBoth()
    {
        await using var gateway = await TwoChannelsAsync();

        var served = new List<WireMockServer>();
        for (var turn = 0; turn < 10; turn++)
        {
            served.Add(await SendAsync(gateway, Body($"turn {turn}"), "4b1f2c9e-5d7a-4e3b-9c21-0f6a8d3e7b15"));
        }

        Assert.That(served.Distinct().Count(), Is.EqualTo(1), "one conversation, one channel");

        var (a, b) = (A.Received().Count, B.Received().Count);
        for (var i = 0; i < 40; i++)
        {
            await SendAsync(gateway, Body("hello"), $"session-{i:D2}");
        }

        Assert.That(A.Received().Count - a, Is.GreaterThanOrEqualTo(5), "conversations spread over the channels");
        Assert.That(B.Received().Count - b, Is.GreaterThanOrEqualTo(5), "conversations spread over the channels");
    }

    [Test]
    public async Task CodexSession_HeaderOrPromptCacheKey_SameChannel()
    {
        await using var gateway = await TwoChannelsAsync();

        var channels = new HashSet<WireMockServer>();
        for (var i = 0; i < 8; i++)
        {
            var session = $"01a23acf-3ace-7cf1-a2ca-{i:D12}";
            // Codex's first turn carries its session-id header; a later one (another client of the same session) only prompt_cache_key.
            var withHeader = await SendResponsesAsync(gateway, $$"""{"model":"claude-sonnet-4-6","input":"first turn {{i}}","store":false}""", session);
            var withCacheKey = await SendResponsesAsync(gateway,
                $$"""{"model":"claude-sonnet-4-6","input":"a later turn {{i}}","store":false,"prompt_cache_key":"{{session}}"}""", codexSession: null);
            Assert.That(withCacheKey, Is.SameAs(withHeader), $"session {session}");
            channels.Add(withHeader);
        }

        Assert.That(channels, Has.Count.EqualTo(2), "the sessions chosen land on both channels, so the check above means something");
    }

    private async Task<WireMockServer> SendResponsesAsync(TestGateway gateway, string body, string? codexSession)
    {
        var (a, b) = (A.Received().Count, B.Received().Count);
        var request = gateway.Post("/v1/responses", body, bearer: true);
        if (codexSession is not null)
        {
            request.Headers.Add("session-id", codexSession);
        }

        var (response, json) = await gateway.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        return A.Received().Count > a ? A : B;
    }

    [Test]
    public async Task SessionInMetadataUserId_SameChannelAsWithTheHeader()
    {
        await using var gateway = await TwoChannelsAsync();

        var channels = new HashSet<WireMockServer>();
        for (var i = 0; i < 8; i++)
        {
            var session = $"7c0e5a4b-1d2f-4a6b-8e9c-{i:D12}";
            var withHeader = await SendAsync(gateway, Body($"first turn {i}"), session);
            // Other messages, no header: only the session id in metadata.user_id can lead to the same channel.
            var withMetadata = await SendAsync(gateway, Body($"a later turn {i}", UserId(session)), session: null);
            Assert.That(withMetadata, Is.SameAs(withHeader), $"session {session}");
            channels.Add(withHeader);
        }

        Assert.That(channels, Has.Count.EqualTo(2), "the sessions chosen land on both channels, so the check above means something");
    }

    [Test]
    public async Task ChannelWithThreeKeys_OneSession_AlwaysSameKey()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["keys.json"] = $$"""{ "type": "anthropic", "baseUrl": "{{A.BaseUrl()}}", "apiKeys": ["sk-key-alpha-01", "sk-key-bravo-02", "sk-key-charlie-03"] }""",
        });

        for (var turn = 0; turn < 6; turn++)
        {
            await SendAsync(gateway, Body($"turn {turn}"), "e2a1c3b4-0f5d-4c6e-a7b8-9d0e1f2a3b4c");
        }

        Assert.That(A.Received().Select(r => r.Header("x-api-key")).Distinct().Count(), Is.EqualTo(1), "one conversation, one key");

        for (var i = 0; i < 12; i++)
        {
            await SendAsync(gateway, Body("hello"), $"key-session-{i:D2}");
        }

        Assert.That(A.Received().Skip(6).Select(r => r.Header("x-api-key")).Distinct().Count(), Is.GreaterThanOrEqualTo(2),
            "different conversations use different keys");
    }

    [Test]
    public async Task NoSessionId_SameFirstMessages_SameChannel()
    {
        await using var gateway = await TwoChannelsAsync();

        var channels = new HashSet<WireMockServer>();
        for (var i = 0; i < 8; i++)
        {
            // Two turns of one conversation from a client that names no session: the first two messages are shared.
            var shorter = Conversation($"question {i}", $"answer {i}", "and then?");
            var longer = Conversation($"question {i}", $"answer {i}", "and then?", "this.", "thanks");
            var first = await SendAsync(gateway, shorter, session: null);
            Assert.That(await SendAsync(gateway, longer, session: null), Is.SameAs(first), $"conversation {i}");
            channels.Add(first);
        }

        Assert.That(channels, Has.Count.EqualTo(2), "the conversations chosen land on both channels, so the check above means something");
    }

    [Test]
    public async Task ChannelWithTwoDestinations_OneSession_AlwaysSameDestination()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["two.json"] = $$"""{ "type": "anthropic", "baseUrls": ["{{A.BaseUrl().OriginalString}}", "{{B.BaseUrl().OriginalString}}"], "apiKeys": ["sk-key-alpha-01"] }""",
        });

        var served = new List<WireMockServer>();
        for (var turn = 0; turn < 6; turn++)
        {
            served.Add(await SendAsync(gateway, Body($"turn {turn}"), "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"));
        }

        Assert.That(served.Distinct().Count(), Is.EqualTo(1), "one conversation, one destination");
    }

    [Test]
    public async Task PreferredChannelFails_SessionMovesToTheOtherChannel_AnswersStayFine()
    {
        await using var gateway = await TwoChannelsAsync(new Dictionary<string, string?>
        {
            ["Routing:Breaker:ConsecutiveFailures"] = "1",
            // One test client: any caller's failure counts (the two-caller rule has its own tests, tests/Proxy.Tests/Hostile).
            ["Routing:Breaker:MinimumCallers"] = "1",
            ["Routing:Breaker:BaseCooldownSeconds"] = "30",
        });
        const string Session = "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a";

        var preferred = await SendAsync(gateway, Body("turn 0"), Session);
        var other = preferred == A ? B : A;
        preferred.AnswerEveryRequest(WireMockUpstream.AnthropicError(500, "api_error", "boom"));

        // The failing turn is retried on the other channel: the client sees a clean answer.
        var request = gateway.Post("/v1/messages", Body("turn 1"));
        request.Headers.Add(SessionHeader, Session);
        var (response, json) = await gateway.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(preferred.Received(), Has.Count.EqualTo(2));
        Assert.That(other.Received(), Has.Count.EqualTo(1));

        for (var turn = 2; turn < 6; turn++)
        {
            Assert.That(await SendAsync(gateway, Body($"turn {turn}"), Session), Is.SameAs(other));
        }

        Assert.That(preferred.Received(), Has.Count.EqualTo(2), "the open channel gets nothing more");
    }

    [Test]
    public async Task AffinityOff_IdenticalRequestsRotateKeys()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["keys.json"] = $$"""{ "type": "anthropic", "baseUrl": "{{A.BaseUrl()}}", "apiKeys": ["sk-key-alpha-01", "sk-key-bravo-02"] }""",
        }, new Dictionary<string, string?> { ["Routing:SessionAffinity"] = "false" });

        for (var i = 0; i < 6; i++)
        {
            // Even Claude Code's session header does not pin the key when affinity is off.
            await SendAsync(gateway, Body("the same request"), "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
        }

        var keys = A.Received().Select(r => r.Header("x-api-key")).ToList();
        Assert.That(keys.Count(k => k == "sk-key-alpha-01"), Is.EqualTo(3), string.Join(", ", keys));
        Assert.That(keys.Count(k => k == "sk-key-bravo-02"), Is.EqualTo(3), string.Join(", ", keys));
        Assert.That(keys.Zip(keys.Skip(1)).All(p => p.First != p.Second), Is.True, $"round robin: {string.Join(", ", keys)}");
    }
}
