using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Tests.Support;
using CcxProxy.Tests.Telemetry;
using WireMock.Server;

namespace CcxProxy.Tests.Hostile;

/// <summary>
/// Client mistakes and hostile bodies, end to end: each gets a 400 in the caller's own error shape (never a
/// 500, never an empty body) and never reaches an upstream; text that Node clients really produce (a lone
/// surrogate from a string cut in half) keeps a conversation working.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class HostileInputTests
{
    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [OneTimeSetUp]
    public async Task OneTimeSetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        // claude-* goes to an Anthropic channel (passthrough for Anthropic clients, conversion for OpenAI ones);
        // gpt-* to an OpenAI channel (the other way round).
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["anthropic.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["claude-*"] """),
            ["openai.json"] = TestGateway.OpenAIChannel(_upstream.BaseUrl(), """ "models": ["gpt-*"] """),
        });
    }

    [OneTimeTearDown]
    public async Task OneTimeTearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private static string Messages(string model, string content = "\"hi\"", string extra = "") =>
        $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":{{content}}}]{{extra}}}""";

    private static string Chat(string model, string content = "\"hi\"", string extra = "") =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":{{content}}}]{{extra}}}""";

    private async Task<(HttpResponseMessage Response, JsonNode? Json, string Text)> SendBytesAsync(string path, byte[] body)
    {
        var request = _gateway.Post(path, "", bearer: path.Contains("chat", StringComparison.Ordinal));
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        var response = await _gateway.Client.SendAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        var text = await response.Content.ReadAsStringAsync();
        JsonNode? json = null;
        try
        {
            json = JsonNode.Parse(text);
        }
        catch (System.Text.Json.JsonException)
        {
        }

        return (response, json, text);
    }

    /// <summary>A 400 whose body is the caller's protocol's error shape and names what was wrong.</summary>
    private static void AssertClientError(string path, HttpResponseMessage response, JsonNode? json, string text, string mentions)
    {
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
        Assert.That(json, Is.Not.Null, "a JSON error body: " + text);
        if (path.Contains("chat", StringComparison.Ordinal))
        {
            Assert.That(json!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("invalid_request_error"), text);
        }
        else
        {
            Assert.That(json!["type"]!.GetValue<string>(), Is.EqualTo("error"), text);
            Assert.That(json["error"]!["type"]!.GetValue<string>(), Is.EqualTo("invalid_request_error"), text);
        }

        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain(mentions).IgnoreCase, text);
    }

    private static IEnumerable<TestCaseData> Routes()
    {
        yield return new TestCaseData("/v1/messages", "claude-sonnet-4-6").SetName("{m}(messages passthrough)");
        yield return new TestCaseData("/v1/messages", "gpt-4o").SetName("{m}(messages to openai)");
        yield return new TestCaseData("/v1/chat/completions", "gpt-4o").SetName("{m}(chat passthrough)");
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6").SetName("{m}(chat to anthropic)");
    }

    private static string BodyFor(string path, string model, string content = "\"hi\"", string extra = "") =>
        path.Contains("chat", StringComparison.Ordinal) ? Chat(model, content, extra) : Messages(model, content, extra);

    [TestCaseSource(nameof(Routes))]
    public async Task LoneSurrogateInModel_400(string path, string model)
    {
        var (response, json, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(BodyFor(path, model).Replace(model, model + "\\ud800", StringComparison.Ordinal)));

        AssertClientError(path, response, json, text, "model");
    }

    [TestCaseSource(nameof(Routes))]
    public async Task InvalidUtf8InAString_400(string path, string model)
    {
        var body = Encoding.UTF8.GetBytes(BodyFor(path, model, "\"hi XX there\""));
        var at = Encoding.UTF8.GetString(body).IndexOf("XX", StringComparison.Ordinal);
        body[at] = 0xC3;
        body[at + 1] = 0x28;

        var (response, json, text) = await SendBytesAsync(path, body);

        AssertClientError(path, response, json, text, "UTF-8");
        Assert.That(_upstream.Received().Where(r => r.Body.Contains("there", StringComparison.Ordinal)), Is.Empty);
    }

    [TestCaseSource(nameof(Routes))]
    public async Task DuplicateTopLevelKey_400(string path, string model)
    {
        var body = BodyFor(path, model).Replace("{\"model\":", "{\"model\":\"claude-opus-4-7\",\"model\":", StringComparison.Ordinal);

        var (response, json, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(body));

        AssertClientError(path, response, json, text, "duplicate");
    }

    [TestCaseSource(nameof(Routes))]
    public async Task ModelNameTooLong_400AndNotLoggedWhole(string path, string model)
    {
        var huge = model + new string('x', 300_000);

        var (response, json, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(BodyFor(path, huge)));

        AssertClientError(path, response, json, text, "model");
        Assert.That(text.Length, Is.LessThan(2_000), "the error does not echo the name");
        Assert.That(_gateway.Logs.All, Does.Not.Contain(new string('x', 1_000)));
    }

    [TestCase("/v1/messages", "claude-sonnet-4-6")]
    [TestCase("/v1/chat/completions", "gpt-4o")]
    public async Task LoneSurrogateInContent_Passthrough_ForwardedUntouched(string path, string model)
    {
        var before = _upstream.Received().Count;
        var body = BodyFor(path, model, "\"cut here: \\ud83d and on\"");

        var (response, _, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        Assert.That(_upstream.Received().Skip(before).Single().Body, Does.Contain("cut here: \\ud83d and on"));
    }

    [TestCase("/v1/messages", "gpt-4o")]
    [TestCase("/v1/chat/completions", "claude-sonnet-4-6")]
    public async Task LoneSurrogateInContent_Conversion_ReplacedAndAnswered(string path, string model)
    {
        var before = _upstream.Received().Count;
        var body = BodyFor(path, model, "\"cut here: \\ud83d and on\"", ",\"system\":\"sys \\udc00\"".Replace(",\"system\"", path.Contains("chat", StringComparison.Ordinal) ? ",\"user\"" : ",\"system\"", StringComparison.Ordinal));

        var (response, _, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var seen = _upstream.Received().Skip(before).Single();
        Assert.That(seen.Json!.ToJsonString(), Does.Contain("cut here: \\uFFFD and on"));
    }

    private static IEnumerable<TestCaseData> MalformedConverted()
    {
        // Anthropic client, OpenAI channel.
        yield return new TestCaseData("/v1/messages", "gpt-4o", "\"hi\"", ",\"tools\":[1]", "tools[0]");
        yield return new TestCaseData("/v1/messages", "gpt-4o", "\"hi\"", ",\"tools\":[null]", "tools[0]");
        yield return new TestCaseData("/v1/messages", "gpt-4o", "[1]", "", "content[0]");
        yield return new TestCaseData("/v1/messages", "gpt-4o", "[{\"type\":\"image\"}]", "", "source");
        yield return new TestCaseData("/v1/messages", "gpt-4o", "[{\"type\":\"tool_result\",\"content\":\"42\"}]", "", "tool_use_id");
        yield return new TestCaseData("/v1/messages", "gpt-4o", "[{\"type\":\"text\"}]", "", "text");
        // OpenAI client, Anthropic channel.
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6", "\"hi\"", ",\"tools\":[1]", "tools[0]");
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6", "\"hi\"", ",\"tools\":[null]", "tools[0]");
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6", "[1]", "", "content[0]");
        yield return new TestCaseData("/v1/chat/completions", "claude-sonnet-4-6", "[{\"type\":\"image_url\"}]", "", "image_url");
    }

    [TestCaseSource(nameof(MalformedConverted))]
    public async Task MalformedOnConvertedRoute_400NamingThePart(string path, string model, string content, string extra, string mentions)
    {
        var before = _upstream.Received().Count;

        var (response, json, text) = await SendBytesAsync(path, Encoding.UTF8.GetBytes(BodyFor(path, model, content, extra)));

        AssertClientError(path, response, json, text, mentions);
        Assert.That(_upstream.Received().Count, Is.EqualTo(before), "nothing was forwarded");
    }

    [TestCase("ffffffffffffffffffff")]
    [TestCase("-1")]
    [TestCase("zz")]
    public async Task AbsurdChunkSize_400InTheCallersShape(string chunkSize)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _gateway.BaseUrl.Port);
        var stream = tcp.GetStream();
        var head = $"POST /v1/messages HTTP/1.1\r\nHost: localhost\r\nx-api-key: {TestGateway.AccessKey}\r\ncontent-type: application/json\r\n"
            + $"transfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\n{{\"mod\r\n{chunkSize}\r\nel\":1}}";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(20));

        Assert.That(answer, Does.StartWith("HTTP/1.1 400"));
        var body = answer[(answer.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..];
        Assert.That(body, Does.Contain("invalid_request_error"));
        Assert.That(_gateway.Logs.All, Does.Not.Contain("Unhandled exception").And.Not.Contain("   at "));
    }

    [Test]
    public async Task ModelNameWithLineBreaks_LoggedEscaped_NoForgedLine()
    {
        const string Forged = "Information CcxProxy.Telemetry.RequestTelemetry: POST messages 200 FORGED";
        var body = Messages("claude-sonnet-4-6\\r\\n" + Forged + "\\u2028x");

        var (response, _, text) = await SendBytesAsync("/v1/messages", Encoding.UTF8.GetBytes(body));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var line = await Poll.UntilAsync(() => _gateway.Logs.Lines.FirstOrDefault(l => l.Contains("FORGED", StringComparison.Ordinal)), "the request's log line");
        Assert.That(line, Does.Contain("claude-sonnet-4-6\\u000d\\u000a" + Forged + "\\u2028x"));
        Assert.That(line, Does.Not.Contain("\n").And.Not.Contain("\r").And.Not.Contain("\u2028"));
    }

    [Test]
    public async Task OversizedHeader_RefusedByKestrel_NoStackTraceLogged()
    {
        var request = _gateway.Post("/v1/messages", Messages("claude-sonnet-4-6"));
        request.Headers.Add("x-padding", new string('a', 64 * 1024));

        using var response = await _gateway.Client.SendAsync(request);

        Assert.That((int)response.StatusCode, Is.EqualTo(431));
        Assert.That(_gateway.Logs.All, Does.Not.Contain("   at "));
    }
}
