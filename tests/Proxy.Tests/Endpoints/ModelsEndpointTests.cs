using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Endpoints;

/// <summary>
/// <c>GET /v1/models</c> and <c>GET /v1/models/{id}</c>: the names the caller's group may ask for, in
/// Anthropic's shape with <c>anthropic-version</c> and OpenAI's without (docs/protocols.md §4).
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ModelsEndpointTests
{
    // Group default: "claude-opus-4-7" (plain allowlist name), "claude-sonnet-4-6" (mapping key it serves)
    // and "haiku" (mapping key matched by its channel's "*haiku*"). Not listed: the wildcard
    // "claude-*", the mapping key "sonnet" that its channel does not serve, team-b's names.
    private static readonly string[] DefaultGroupModels = ["claude-opus-4-7", "claude-sonnet-4-6", "haiku"];

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(),
                """ "models": ["claude-opus-4-7", "claude-*"], "modelMapping": { "claude-sonnet-4-6": "up-sonnet", "sonnet": "x" }"""),
            ["b.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(),
                """ "models": ["team-b-model"], "modelMapping": { "team-b-alias": "y" }, "groups": ["team-b"]"""),
            ["c.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["*haiku*"], "modelMapping": { "haiku": "up-haiku" }"""),
            ["off.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["disabled-model"], "enabled": false"""),
        });
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private HttpRequestMessage Get(string path, bool anthropic = true, string? key = TestGateway.AccessKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Add("x-api-key", key);
        }

        if (anthropic)
        {
            request.Headers.Add("anthropic-version", "2023-06-01");
        }

        return request;
    }

    private static string[] Ids(JsonNode json) => json["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).ToArray();

    [Test]
    public async Task List_AnthropicVersion_AnthropicShapeWithCallerGroupNames()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        Assert.That(Ids(json!), Is.EqualTo(DefaultGroupModels));
        foreach (var model in json!["data"]!.AsArray())
        {
            Assert.That(model!["type"]!.GetValue<string>(), Is.EqualTo("model"));
            Assert.That(model["display_name"]!.GetValue<string>(), Is.Not.Empty);
            Assert.That(DateTimeOffset.TryParse(model["created_at"]!.GetValue<string>(), out _), Is.True, model.ToJsonString());
            Assert.That(model["object"], Is.Null, "no OpenAI fields in the Anthropic shape");
        }

        Assert.That(json["has_more"]!.GetValue<bool>(), Is.False);
        Assert.That(json["first_id"]!.GetValue<string>(), Is.EqualTo("claude-opus-4-7"));
        Assert.That(json["last_id"]!.GetValue<string>(), Is.EqualTo("haiku"));
        Assert.That(json["object"], Is.Null);
        Assert.That(_upstream.Received(), Is.Empty, "the list comes from the channel files, not the upstream");
    }

    [Test]
    public async Task List_NoAnthropicVersion_OpenAIShape([Values] bool bearer)
    {
        var request = Get("/v1/models", anthropic: false, key: bearer ? null : TestGateway.AccessKey);
        if (bearer)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", TestGateway.AccessKey);
        }

        var (response, json) = await _gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["object"]!.GetValue<string>(), Is.EqualTo("list"));
        Assert.That(Ids(json), Is.EqualTo(DefaultGroupModels));
        foreach (var model in json["data"]!.AsArray())
        {
            Assert.That(model!["object"]!.GetValue<string>(), Is.EqualTo("model"));
            Assert.That(model["created"]!.GetValue<long>(), Is.GreaterThan(1_600_000_000L));
            Assert.That(model["owned_by"]!.GetValue<string>(), Is.Not.Empty);
            Assert.That(model["type"], Is.Null, "no Anthropic fields in the OpenAI shape");
        }

        Assert.That(json["has_more"], Is.Null);
    }

    [Test]
    public async Task List_NeverShowsWildcardsUnservedKeysOtherGroupsOrDisabledChannels([Values] bool anthropic)
    {
        var (_, json) = await _gateway.SendAsync(Get("/v1/models", anthropic));

        var ids = Ids(json!);
        Assert.That(ids, Has.None.Contains("*"));
        Assert.That(ids, Has.No.Member("sonnet"), "channel a does not serve 'sonnet' (not in its allowlist)");
        Assert.That(ids, Has.No.Member("team-b-model").And.No.Member("team-b-alias"));
        Assert.That(ids, Has.No.Member("disabled-model"));
    }

    [Test]
    public async Task List_LimitAndAfterId_PagesThroughAllNames()
    {
        var (_, first) = await _gateway.SendAsync(Get("/v1/models?limit=2"));

        Assert.That(Ids(first!), Is.EqualTo(DefaultGroupModels[..2]));
        Assert.That(first!["has_more"]!.GetValue<bool>(), Is.True);
        Assert.That(first["first_id"]!.GetValue<string>(), Is.EqualTo(DefaultGroupModels[0]));
        Assert.That(first["last_id"]!.GetValue<string>(), Is.EqualTo(DefaultGroupModels[1]));

        var (_, second) = await _gateway.SendAsync(Get($"/v1/models?limit=2&after_id={first["last_id"]!.GetValue<string>()}"));

        Assert.That(Ids(second!), Is.EqualTo(DefaultGroupModels[2..]));
        Assert.That(second!["has_more"]!.GetValue<bool>(), Is.False);
        Assert.That(second["first_id"]!.GetValue<string>(), Is.EqualTo("haiku"));
        Assert.That(second["last_id"]!.GetValue<string>(), Is.EqualTo("haiku"));
    }

    [Test]
    public async Task List_AfterLastId_EmptyPage()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models?after_id=haiku"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Ids(json!), Is.Empty);
        Assert.That(json!["has_more"]!.GetValue<bool>(), Is.False);
        Assert.That(json["first_id"], Is.Null);
        Assert.That(json["last_id"], Is.Null);
    }

    [TestCase("0")]
    [TestCase("1001")]
    public async Task List_LimitOutOfRange_400InvalidRequest(string limit)
    {
        var (response, json) = await _gateway.SendAsync(Get($"/v1/models?limit={limit}"));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("limit"));
    }

    [TestCase("abc")]
    [TestCase("-1")]
    [TestCase("2.5")]
    public async Task List_LimitNotAnInteger_400InvalidRequest(string limit)
    {
        var (response, json) = await _gateway.SendAsync(Get($"/v1/models?limit={limit}"));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("limit"));
    }

    [TestCase("claude-opus-4-7")]
    [TestCase("haiku")]
    [TestCase("claude-opus-4-1")] // not listed, but served through the wildcard
    public async Task Get_ServedModel_200InAnthropicShape(string id)
    {
        var (response, json) = await _gateway.SendAsync(Get($"/v1/models/{id}"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["id"]!.GetValue<string>(), Is.EqualTo(id));
        Assert.That(json["type"]!.GetValue<string>(), Is.EqualTo("model"));
        Assert.That(json["display_name"]!.GetValue<string>(), Is.Not.Empty);
        Assert.That(json["created_at"]!.GetValue<string>(), Is.Not.Empty);
    }

    [Test]
    public async Task Get_ServedModel_NoAnthropicVersion_OpenAIShape()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models/claude-opus-4-7", anthropic: false));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(json!["id"]!.GetValue<string>(), Is.EqualTo("claude-opus-4-7"));
        Assert.That(json["object"]!.GetValue<string>(), Is.EqualTo("model"));
        Assert.That(json["owned_by"]!.GetValue<string>(), Is.Not.Empty);
    }

    [TestCase("gpt-4o")]
    [TestCase("team-b-model")]
    [TestCase("sonnet")]
    [TestCase("disabled-model")]
    public async Task Get_ModelNotServedToCaller_404NamingModel(string id)
    {
        var (response, json) = await _gateway.SendAsync(Get($"/v1/models/{id}"));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain(id));
    }

    [Test]
    public async Task Get_ModelNotServed_NoAnthropicVersion_404InOpenAIShape()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models/gpt-4o", anthropic: false));

        var message = ErrorAssert.OpenAI(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain("gpt-4o"));
    }

    [TestCase("/v1/models")]
    [TestCase("/v1/models/claude-opus-4-7")]
    public async Task NoKey_AnthropicVersion_401InAnthropicShape(string path)
    {
        var (response, json) = await _gateway.SendAsync(Get(path, key: null));

        ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(response.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
        Assert.That(json!.ToJsonString(), Does.Not.Contain("claude-opus-4-7\""), "no model list without a key");
    }

    [Test]
    public async Task NoKey_NoAnthropicVersion_401InOpenAIShape()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models", anthropic: false, key: null));

        ErrorAssert.OpenAI(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(json!["data"], Is.Null);
    }

    [Test]
    public async Task List_WrongKey_401()
    {
        var (response, json) = await _gateway.SendAsync(Get("/v1/models", key: "ccx-not-a-key"));

        ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
    }
}
