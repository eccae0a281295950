using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// A group's model allowlist cannot be widened through model mapping: a name the allowlist admits but that also
/// carries another model's mapping key is ambiguous, and refused; the longest-key rule keeps working for names
/// that carry one family's keys only.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class MappingAllowlistTests
{
    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(),
                """ "modelMapping": { "haiku": "up-haiku", "opus": "up-opus", "sonnet": "up-sonnet", "sonnet-4": "up-sonnet-4", "claude-haiku-4-5": "up-haiku" } """),
            ["groups.json"] = """{"groups": {"default": {"models": ["claude-haiku-*", "claude-sonnet-*"]}}}""",
        });
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Body(string model) => $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    [TestCase("claude-haiku-claude-opus-4-7", "/v1/messages")]
    [TestCase("claude-haiku-OPUS", "/v1/messages")]
    [TestCase("claude-sonnet-4-6-haiku", "/v1/chat/completions")]
    public async Task NameCarryingTwoModelsKeys_400Ambiguous_NothingForwarded(string model, string path)
    {
        var before = _upstream.Received().Count;

        var (response, json) = await _gateway.SendAsync(_gateway.Post(path, Body(model), bearer: path.Contains("chat", StringComparison.Ordinal)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("ambiguous"));
        Assert.That(_upstream.Received().Count, Is.EqualTo(before));
    }

    [TestCase("claude-haiku-4-5-20251001", "up-haiku")]
    [TestCase("claude-haiku-4-5", "up-haiku")]
    [TestCase("claude-sonnet-4-6", "up-sonnet-4")]
    [TestCase("claude-sonnet-3-7", "up-sonnet")]
    public async Task NameOfOneFamily_MappedAsBefore(string model, string upstreamModel)
    {
        var before = _upstream.Received().Count;

        var (response, _) = await _gateway.SendAsync(_gateway.Post("/v1/messages", Body(model)));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received().Skip(before).Single().Model, Is.EqualTo(upstreamModel));
    }

    [TestCase("claude-haiku-x-opus", "claude-haiku-*", HttpStatusCode.Forbidden)]
    [TestCase("claude-haiku-4-5", "claude-haiku-*", HttpStatusCode.OK)]
    [TestCase("claude-opus-4-7", "claude-opus-*", HttpStatusCode.OK)]
    [TestCase("claude-opus-4-7", "claude-*", HttpStatusCode.Forbidden)]
    [TestCase("claude-opus-4-7", "claude-*\", \"up-opus", HttpStatusCode.OK)]
    public async Task OneMappingKeyInTheWildcardPart_ReachesOnlyWhatTheAllowlistNames(string model, string allowlist, HttpStatusCode expected)
    {
        // Only opus is mapped: a haiku name carrying "opus" holds one key, so it is not ambiguous.
        using var upstream = WireMockUpstream.StartProvider();
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl(), """ "modelMapping": { "opus": "up-opus" } """),
            ["groups.json"] = "{\"groups\": {\"default\": {\"models\": [\"" + allowlist + "\"]}}}",
        });

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(model)));

        Assert.That(response.StatusCode, Is.EqualTo(expected), json?.ToJsonString());
        if (expected == HttpStatusCode.Forbidden)
        {
            Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("up-opus").And.Contain("'opus'"));
            Assert.That(upstream.Received(), Is.Empty);
        }
    }
}
