using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// Headers cross the gateway only from an allowlist, in both directions: the caller cannot steer the upstream
/// (organisation, forwarded-for, its own trace or cookies), and the upstream cannot reach the caller with its
/// cookies, redirects, server banner, organisation ids or its own rate-limit headers.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class HeaderAllowlistTests
{
    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    private const string Messages = """{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";
    private const string Chat = """{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}""";

    private static readonly string[] s_callerOnly =
    [
        "OpenAI-Organization", "OpenAI-Project", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded",
        "X-Real-IP", "Cookie", "traceparent", "baggage", "X-Internal-Debug", "Proxy-Authorization", "X-Channel", "Origin", "Referer",
    ];

    private static void AddHostile(HttpRequestMessage request)
    {
        foreach (var name in s_callerOnly)
        {
            request.Headers.TryAddWithoutValidation(name, name == "traceparent" ? "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" : "caller-value");
        }
    }

    [Test]
    public async Task Request_AnthropicUpstream_OnlyAllowlistedCallerHeadersArrive()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) });
        var request = gateway.Post("/v1/messages", Messages);
        AddHostile(request);
        request.Headers.Remove("X-Channel");
        request.Headers.Add("anthropic-beta", "interleaved-thinking-2025-05-14");
        request.Headers.Add("x-stainless-lang", "js");
        request.Headers.UserAgent.ParseAdd("claude-cli/2.1.0");

        var (response, _) = await gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var seen = _upstream.Received().Single();
        Assert.Multiple(() =>
        {
            foreach (var name in s_callerOnly)
            {
                Assert.That(seen.Header(name), Is.Null, name);
            }

            Assert.That(seen.Header("anthropic-beta"), Is.EqualTo("interleaved-thinking-2025-05-14"));
            Assert.That(seen.Header("anthropic-version"), Is.EqualTo("2023-06-01"));
            Assert.That(seen.Header("x-stainless-lang"), Is.EqualTo("js"));
            Assert.That(seen.Header("user-agent"), Does.Contain("claude-cli/2.1.0"));
        });
    }

    [Test]
    public async Task Request_OpenAIUpstream_CallerOrganisationNeverSent_ChannelsOwnIs()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.OpenAIChannel(_upstream.BaseUrl(), """ "headers": { "OpenAI-Organization": "org-channel" } """),
        });
        var request = gateway.Post("/v1/chat/completions", Chat, bearer: true);
        AddHostile(request);
        request.Headers.Remove("X-Channel");

        var (response, _) = await gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Header("openai-organization"), Is.EqualTo("org-channel"));
        Assert.That(seen.Header("openai-project"), Is.Null);
        Assert.That(seen.Header("x-forwarded-for"), Is.Null);
        Assert.That(seen.Header("anthropic-version"), Is.Null);
    }

    private static readonly (string Name, string Value)[] s_upstreamOnly =
    [
        ("WWW-Authenticate", "Bearer realm=\"upstream\""), ("Location", "https://upstream.example/elsewhere"),
        ("Set-Cookie", "__cf_bm=upstream; Path=/"), ("anthropic-organization-id", "org-upstream-123"), ("openai-organization", "org-upstream"),
        ("anthropic-ratelimit-requests-remaining", "4999"), ("x-ratelimit-remaining-requests", "4999"), ("ETag", "\"abc\""),
        ("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"), ("Accept-Ranges", "bytes"), ("Via", "1.1 upstream-cdn"), ("cf-ray", "8a1b2c3d4e5f-AMS"),
        ("X-Powered-By", "upstream"), ("Strict-Transport-Security", "max-age=31536000"),
    ];

    private void UpstreamSendsEverything()
    {
        var headers = s_upstreamOnly.ToDictionary(h => h.Name, h => h.Value);
        headers["request-id"] = "req_upstream_anthropic";
        headers["x-request-id"] = "req_upstream_openai";
        headers["retry-after"] = "3";
        _upstream.AnswerEveryRequest(Response.Create().WithAnswer(request => StockAnswer.For(request, new FakeUpstreamOptions()) with { Headers = headers }));
    }

    [Test]
    public async Task Response_OnlyAllowlistedUpstreamHeadersReachTheCaller(
        [Values("anthropic", "openai")] string channelType, [Values] bool stream)
    {
        UpstreamSendsEverything();
        var channel = channelType == "openai" ? TestGateway.OpenAIChannel(_upstream.BaseUrl()) : TestGateway.AnthropicChannel(_upstream.BaseUrl());
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = channel,
            ["groups.json"] = """{"groups": {"default": {"limits": {"requestsPerMinute": 100}}}}""",
        });
        var body = Messages.Replace("\"max_tokens\":8", $"\"max_tokens\":8,\"stream\":{(stream ? "true" : "false")}", StringComparison.Ordinal);

        using var response = await gateway.Client.SendAsync(gateway.Post("/v1/messages", body));
        await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.Multiple(() =>
        {
            foreach (var (name, _) in s_upstreamOnly)
            {
                var values = response.Headers.TryGetValues(name, out var h) ? h : response.Content.Headers.TryGetValues(name, out var c) ? c : [];
                if (name == "anthropic-ratelimit-requests-remaining")
                {
                    // The gateway's own per-caller figure, not the upstream's.
                    Assert.That(values.Single(), Is.EqualTo("99"), name);
                }
                else
                {
                    Assert.That(values, Is.Empty, name);
                }
            }

            Assert.That(response.Headers.GetValues("x-request-id").Single(), Does.StartWith("req_").And.Not.Contain("upstream"));
            // The upstream's id under a name of its own (the fake Anthropic sets its own request-id).
            var upstreamId = response.Headers.GetValues("x-upstream-request-id").Single();
            Assert.That(upstreamId, channelType == "openai" ? Is.EqualTo("req_upstream_openai") : Does.StartWith("req_fake_").Or.EqualTo("req_upstream_anthropic"));
            Assert.That(response.Headers.TryGetValues("request-id", out var anthropicId) ? anthropicId.Single() : null,
                Is.EqualTo(channelType == "anthropic" ? upstreamId : null), "Anthropic's own request-id, only when both sides speak Anthropic");
            Assert.That(response.Headers.GetValues("anthropic-ratelimit-requests-limit").Single(), Is.EqualTo("100"));
        });
    }

    [Test]
    public async Task Response_UpstreamError_RetryAfterKept()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down", ("retry-after", "7"), ("WWW-Authenticate", "Basic realm=\"upstream\"")));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) });

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Messages));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("rate_limit_error"));
        Assert.That(response.Headers.RetryAfter!.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
        Assert.That(response.Headers.WwwAuthenticate, Is.Empty);
    }
}
