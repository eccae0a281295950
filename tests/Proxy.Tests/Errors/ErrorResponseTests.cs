using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Errors;

/// <summary>
/// Every error a client can meet, as the client sees it: Anthropic's error shape, the right status and
/// error type, a message that says what to do, the headers clients act on, and never a secret.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ErrorResponseTests
{
    private static readonly string[] Secrets = [TestGateway.AccessKey, TestGateway.SecondAccessKey, FakeKeys.Upstream];

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;
    private readonly List<TestGateway> _extraGateways = [];

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            // Serves claude-* to group default.
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["claude-*"]"""),
            // Serves team-b-model, but only to group team-b.
            ["teamb.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["team-b-model"], "groups": ["team-b"]"""),
            // Nothing listens at its address.
            ["dead.json"] = TestGateway.AnthropicChannel(FreePort.ClosedUrl(), """ "models": ["dead-model"]"""),
            // Gives up on response headers after one second.
            ["slow.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["slow-model"], "timeouts": { "responseHeaders": 1 }"""),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        var logs = new List<string> { _gateway.Logs.All };
        logs.AddRange(_extraGateways.Select(g => g.Logs.All));
        foreach (var gateway in _extraGateways)
        {
            await gateway.DisposeAsync();
        }

        _extraGateways.Clear();
        await _gateway.DisposeAsync();
        _upstream.Dispose();

        // Checked after every test, whatever it exercised: no secret is ever logged, even at Trace level.
        foreach (var secret in Secrets)
        {
            Assert.That(string.Join('\n', logs), Does.Not.Contain(secret), "the gateway logged a secret");
        }
    }

    private static string Body(string model, bool stream = false) =>
        $$"""{"model":"{{model}}","max_tokens":64,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>Sends, reads the whole answer, and checks that it leaks no secret.</summary>
    private static async Task<(HttpResponseMessage Response, JsonNode? Json)> SendAsync(TestGateway gateway, HttpRequestMessage request)
    {
        var response = await gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync().WaitAsync(TimeSpan.FromSeconds(30));
        ErrorAssert.NoSecrets(response, text, Secrets);
        JsonNode? json = null;
        try
        {
            json = text.Length > 0 ? JsonNode.Parse(text) : null;
        }
        catch (System.Text.Json.JsonException)
        {
            Assert.Fail($"the answer is not JSON: {text}");
        }

        return (response, json);
    }

    private Task<(HttpResponseMessage Response, JsonNode? Json)> SendAsync(HttpRequestMessage request) => SendAsync(_gateway, request);

    // ---- Authentication ----

    [Test]
    public async Task Auth_NoKey_401WithNoRetryAndChallenge()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7"), key: null));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(message, Does.Contain("x-api-key").And.Contain("Bearer"), "the message should say how to send the key");
        Assert.That(response.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
        Assert.That(response.Headers.WwwAuthenticate, Is.Not.Empty);
        Assert.That(response.Headers.GetValues("x-request-id").Single(), Is.EqualTo(json!["request_id"]!.GetValue<string>()));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Auth_WrongKey_401WithNoRetry([Values] bool bearer)
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7"), bearer, key: "ccx-not-a-key-0000"));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(message, Does.Contain("invalid API key"));
        Assert.That(response.Headers.GetValues("x-should-retry").Single(), Is.EqualTo("false"));
        Assert.That(response.Headers.WwwAuthenticate, Is.Not.Empty);
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Auth_EmptyBearerToken_401()
    {
        var request = _gateway.Post("/v1/messages", Body("claude-opus-4-7"), key: null);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer ");

        var (response, json) = await SendAsync(request);

        ErrorAssert.Anthropic(response, json, HttpStatusCode.Unauthorized, "authentication_error");
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Auth_AnyListedKey_AsXApiKeyOrBearer_Accepted(
        [Values] bool bearer,
        [Values(TestGateway.AccessKey, TestGateway.SecondAccessKey)] string key)
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7"), bearer, key));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), () => json?.ToJsonString() ?? "");
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_upstream.Received().Single().Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
    }

    // ---- Request body ----

    [Test]
    public async Task Messages_MalformedJson_400SayingMalformedJson()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", """{"model":"claude-opus-4-7","max_tokens":"""));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("malformed JSON"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Messages_BodyIsJsonArray_400SayingObjectExpected()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", """[{"model":"claude-opus-4-7"}]"""));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("JSON object"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Messages_EmptyBody_400()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", ""));

        ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Messages_MissingModel_400NamingModel()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", """{"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}"""));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("model"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [TestCase("5")]
    [TestCase("null")]
    [TestCase("\"\"")]
    [TestCase("[\"claude-opus-4-7\"]")]
    [TestCase("{\"name\":\"claude-opus-4-7\"}")]
    public async Task Messages_ModelNotAString_400NamingModel(string modelJson)
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", $$"""{"model":{{modelJson}},"max_tokens":64,"messages":[]}"""));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadRequest, "invalid_request_error");
        Assert.That(message, Does.Contain("model"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    // ---- Model routing ----

    [TestCase("/v1/messages")]
    [TestCase("/v1/messages/count_tokens")]
    public async Task Messages_ModelOutsideAllowlist_404NamingModel(string path)
    {
        var (response, json) = await SendAsync(_gateway.Post(path, Body("gpt-4o")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain("gpt-4o"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Messages_ModelServedOnlyToAnotherGroup_404NamingModel()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("team-b-model")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain("team-b-model"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    // ---- Body size ----

    [Test]
    public async Task Messages_BodyOverLimit_413RequestTooLarge([Values] bool chunked)
    {
        var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Proxy:MaxRequestBodyBytes"] = "1024" });
        _extraGateways.Add(gateway);

        // Under the limit: forwarded, so the limit is not simply refusing everything.
        var (small, _) = await SendAsync(gateway, gateway.Post("/v1/messages", Body("claude-opus-4-7")));
        Assert.That(small.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        var big = $$"""{"model":"claude-opus-4-7","max_tokens":64,"messages":[{"role":"user","content":"{{new string('x', 4096)}}"}]}""";
        var request = gateway.Post("/v1/messages", big);
        if (chunked)
        {
            request.Content = new UnknownLengthContent(Encoding.UTF8.GetBytes(big)).WithJsonType();
        }

        var (response, json) = await SendAsync(gateway, request);

        Assert.That(request.Content!.Headers.ContentLength is null, Is.EqualTo(chunked), "the request was not framed as intended");
        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.RequestEntityTooLarge, "request_too_large");
        Assert.That(message, Does.Contain("1024"));
        Assert.That(_upstream.Received(), Has.Count.EqualTo(1), "only the small request may reach the upstream");
    }

    // ---- Upstream failures ----

    [Test]
    public async Task Messages_UpstreamUnreachable_502ApiError()
    {
        var stopwatch = Stopwatch.StartNew();
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("dead-model")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadGateway, "api_error");
        Assert.That(message, Does.Contain("dead"), "the message should name the channel");
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task Messages_UpstreamHangsBeforeHeaders_504TimeoutErrorWithinSeconds([Values] bool stream)
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.SilentBeyond(TimeSpan.FromSeconds(1)));

        var stopwatch = Stopwatch.StartNew();
        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("slow-model", stream)));
        stopwatch.Stop();

        ErrorAssert.Anthropic(response, json, (HttpStatusCode)504, "timeout_error");
        Assert.That(stopwatch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)), "answered before the configured timeout");
        Assert.That(stopwatch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        // Any retry was sent before the gateway answered; WireMock logs each one when its silence is over.
        await Task.Delay(WireMockUpstream.Silence(TimeSpan.FromSeconds(1)));
        Assert.That(_upstream.Received(), Has.Count.EqualTo(1), "tried once");
    }

    [Test]
    public async Task Messages_Upstream529Overloaded_PassedThroughWithTypeAndMessage([Values] bool stream)
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"));

        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7", stream)));

        var message = ErrorAssert.Anthropic(response, json, (HttpStatusCode)529, "overloaded_error");
        Assert.That(message, Is.EqualTo("Overloaded"));
        Assert.That(response.Headers.Contains("x-should-retry") ? response.Headers.GetValues("x-should-retry").Single() : null, Is.Not.EqualTo("false"),
            "an overload is worth retrying");
    }

    [Test]
    public async Task Messages_Upstream500Html_500InAnthropicShape()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.HtmlError(500));

        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.InternalServerError, "api_error");
        Assert.That(message, Does.Contain("500"));
        Assert.That(json!.ToJsonString(), Does.Not.Contain("<html>"));
    }

    [Test]
    public async Task Messages_Upstream429WithRetryAfter_429AndRetryAfterPassedThrough()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", ("retry-after", "7")));

        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.TooManyRequests, "rate_limit_error");
        Assert.That(message, Is.EqualTo("Number of request tokens has exceeded your per-minute rate limit"));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
    }

    [Test]
    public async Task Messages_Upstream200Html_502ApiErrorNamingChannel()
    {
        _upstream.AnswerEveryRequest(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "text/html").WithBody("<html><body>Welcome to nginx!</body></html>"));

        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadGateway, "api_error");
        Assert.That(message, Does.Contain("main").And.Contain("text/html"));
    }

    [Test]
    public async Task Messages_UpstreamRejectsChannelKey_502TellingOperatorToFixApiKeys()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"));

        var (response, json) = await SendAsync(_gateway.Post("/v1/messages", Body("claude-opus-4-7")));

        // A 401 would tell Claude Code that the caller's own key is wrong.
        Assert.That(response.StatusCode, Is.Not.EqualTo(HttpStatusCode.Unauthorized));
        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.BadGateway, "api_error");
        Assert.That(message, Does.Contain("apiKeys").And.Contain("main"));
        Assert.That(response.Headers.WwwAuthenticate, Is.Empty, "no challenge: the caller's key was fine");
    }

    // ---- Paths ----

    [Test]
    public async Task DoubleV1Path_AnyRequest_404SayingDropV1FromBaseUrl()
    {
        var (response, json) = await SendAsync(_gateway.Post("/v1/v1/messages", Body("claude-opus-4-7")));

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain("drop").And.Contain("/v1"));
        Assert.That(message, Does.Contain("base URL"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [TestCase("GET")]
    [TestCase("POST")]
    public async Task UnknownPath_AnyMethod_404NotFound(string method)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), "/v2/foo");
        request.Headers.Add("x-api-key", TestGateway.AccessKey);

        var (response, json) = await SendAsync(request);

        var message = ErrorAssert.Anthropic(response, json, HttpStatusCode.NotFound, "not_found_error");
        Assert.That(message, Does.Contain("/v2/foo"));
        Assert.That(message, Does.Not.Contain("drop"));
    }

    // ---- Secrets, across every kind of error ----

    [Test]
    public async Task EveryErrorKind_ResponsesAndLogs_HoldNoSecret()
    {
        // One failure per upstream call, in this order (a WireMock scenario); the last stays silent past the timeout.
        IResponseBuilder[] failures =
        [
            WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"),
            WireMockUpstream.HtmlError(500),
            WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down"),
            // Last: a refused key is then left out, so later requests would not reach this upstream.
            WireMockUpstream.AnthropicError(401, "authentication_error", "invalid x-api-key"),
            WireMockUpstream.SilentBeyond(TimeSpan.FromSeconds(1)),
        ];
        for (var call = 0; call < failures.Length; call++)
        {
            var mapping = _upstream.Given(Request.Create().UsingAnyMethod()).InScenario("every error kind");
            mapping = call == 0 ? mapping : mapping.WhenStateIs($"after {call}");
            mapping.WillSetStateTo($"after {call + 1}").RespondWith(failures[call]);
        }
        HttpRequestMessage[] requests =
        [
            _gateway.Post("/v1/messages", Body("claude-opus-4-7"), key: null),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7"), key: TestGateway.AccessKey + "x"),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7"), bearer: true, key: "wrong"),
            _gateway.Post("/v1/messages", "{\"model\":"),
            _gateway.Post("/v1/messages", "{}"),
            _gateway.Post("/v1/messages", Body("gpt-4o")),
            _gateway.Post("/v1/messages", Body("team-b-model"), bearer: true, key: TestGateway.SecondAccessKey),
            _gateway.Post("/v1/messages", Body("dead-model")),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7")),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7", stream: true)),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7")),
            _gateway.Post("/v1/messages", Body("claude-opus-4-7")),
            _gateway.Post("/v1/messages", Body("slow-model")),
            _gateway.Post("/v1/v1/messages", Body("claude-opus-4-7")),
            _gateway.Post("/v2/foo", "{}"),
        ];

        var statuses = new List<int>();
        foreach (var request in requests)
        {
            var (response, json) = await SendAsync(request); // checks every answer for secrets
            statuses.Add((int)response.StatusCode);
            Assert.That(json?["type"]?.GetValue<string>(), Is.EqualTo("error"), () => $"{request.RequestUri}: {json?.ToJsonString()}");
        }

        Assert.That(statuses, Is.EqualTo(new[] { 401, 401, 401, 400, 400, 404, 404, 502, 529, 500, 429, 502, 504, 404, 404 }));
        foreach (var secret in Secrets)
        {
            Assert.That(_gateway.Logs.All, Does.Not.Contain(secret));
        }

        Assert.That(_gateway.Logs.Lines, Is.Not.Empty, "the log capture is not working, so the check above proves nothing");
    }

    /// <summary>A body whose length is not known in advance, so HttpClient sends it chunked.</summary>
    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        public UnknownLengthContent WithJsonType()
        {
            Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return this;
        }
    }
}
