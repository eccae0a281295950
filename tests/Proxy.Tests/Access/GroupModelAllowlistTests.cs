using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Access;

/// <summary>A group's model allowlist in groups.json: 403 for other models, and /v1/models lists only what the group may use.</summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class GroupModelAllowlistTests
{
    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["claude-sonnet-4-6", "claude-opus-4-7"] """),
            ["groups.json"] = """{"groups": {"default": {"models": ["claude-sonnet-*"]}}}""",
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Body(string model) => $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    [Test]
    public async Task ModelOutsideGroupAllowlist_403PermissionError_NotForwarded()
    {
        var (response, json) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("permission_error"));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("claude-opus-4-7").And.Contain("default"));
        Assert.That(response.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task ModelInsideGroupAllowlist_Served()
    {
        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body("claude-sonnet-4-6")));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task ModelsList_OnlyWhatTheGroupMayUse()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        request.Headers.Add("x-api-key", TestGateway.AccessKey);
        var (response, json) = await _gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()), Is.EqualTo(new[] { "claude-sonnet-4-6" }));
    }
}
