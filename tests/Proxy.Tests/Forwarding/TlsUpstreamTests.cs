using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Forwarding;

/// <summary>
/// Upstreams as real providers are: HTTPS, with a certificate that names only their host (<c>localhost</c>
/// here, never <c>127.0.0.1</c>), issued by a CA the system does not trust (a company CA), which the channel
/// names in <c>caCertificates</c>.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class TlsUpstreamTests
{
    private TestCertificateAuthority _ca = null!;
    private WireMockServer _first = null!;
    private WireMockServer _second = null!;

    [OneTimeSetUp]
    public void OneTimeSetUp()
    {
        _ca = TestCertificateAuthority.Create();
        _first = WireMockUpstream.StartTlsProvider(_ca.IssueServerCertificate("localhost"));
        _second = WireMockUpstream.StartTlsProvider(_ca.IssueServerCertificate("localhost"));
    }

    [OneTimeTearDown]
    public void OneTimeTearDown()
    {
        _first.Dispose();
        _second.Dispose();
        _ca.Dispose();
    }

    [SetUp]
    public void SetUp()
    {
        foreach (var upstream in new[] { _first, _second })
        {
            upstream.ResetMappings();
            upstream.AnswerLikeAProvider();
        }
    }

    private string Trust => $$""" "caCertificates": ["{{_ca.PemPath}}"] """;

    private static string Body(bool stream = false) =>
        $$"""{"model":"claude-opus-4-7","max_tokens":64,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}""";

    [Test]
    public async Task Passthrough_HttpsUpstreamWithCompanyCa_AnswersAndUpstreamSeesItsOwnHost()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(_first.BaseUrl(), Trust) });
        var before = _first.Received().Count;

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        var seen = _first.Received().Skip(before).Single();
        Assert.That(seen.Header("host"), Is.EqualTo($"localhost:{_first.BaseUrl().Port}"));
        Assert.That(seen.Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
    }

    [Test]
    public async Task Conversion_AnthropicClientToHttpsOpenAIUpstream_Answers()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.OpenAIChannel(_first.BaseUrl(), Trust) });
        var before = _first.Received().Count;

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(json!["type"]!.GetValue<string>(), Is.EqualTo("message"));
        Assert.That(json["content"]![0]!["text"]!.GetValue<string>(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(_first.Received().Skip(before).Single().Path, Is.EqualTo("/v1/chat/completions"));
    }

    [Test]
    public async Task Streaming_OverTls_EventsReachTheClientBeforeTheUpstreamFinishes()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _first.AnswerEveryRequest(Response.Create().WithEvents(_ =>
        [
            FakeAnthropic.MessageStart("up"), FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "Hel"),
            StreamStep.Wait(release.Task),
            FakeAnthropic.TextDelta(0, "lo"), FakeAnthropic.BlockStop(0), FakeAnthropic.MessageDelta("end_turn", 2), FakeAnthropic.MessageStop(),
        ]));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(_first.BaseUrl(), Trust) });

        using var response = await gateway.Client.SendAsync(gateway.Post("/v1/messages", Body(stream: true)), HttpCompletionOption.ResponseHeadersRead);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var text = new StringBuilder();
        var names = new List<string?>();
        await foreach (var frame in SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()))
        {
            names.Add(frame.Event);
            if (frame.Event == "content_block_delta")
            {
                text.Append(JsonNode.Parse(frame.Data)!["delta"]!["text"]!.GetValue<string>());
                // The first delta arrived while the upstream is still holding the rest back.
                release.TrySetResult();
            }
        }

        Assert.That(text.ToString(), Is.EqualTo("Hello"));
        Assert.That(names[^1], Is.EqualTo("message_stop"));
    }

    [Test]
    public async Task Failover_BetweenTwoHttpsUpstreams_SecondAnswers()
    {
        _first.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.AnthropicChannel(_first.BaseUrl(), Trust + """, "priority": 0"""),
            ["b.json"] = TestGateway.AnthropicChannel(_second.BaseUrl(), Trust + """, "priority": 1"""),
        });
        var (firstBefore, secondBefore) = (_first.Received().Count, _second.Received().Count);

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(_first.Received().Count - firstBefore, Is.EqualTo(1));
        Assert.That(_second.Received().Count - secondBefore, Is.EqualTo(1));
    }

    [Test]
    public async Task UntrustedCa_Refused502_LogNamesTheCertificateProblem()
    {
        // No caCertificates: the system does not know the company CA.
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(_first.BaseUrl()) });
        var before = _first.Received().Count;

        var (response, json) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That(json!["error"]!["message"]!.GetValue<string>(), Does.Contain("TLS").And.Contain("certificate"));
        Assert.That(gateway.Logs.All, Does.Contain("TLS handshake failed").And.Contain("certificate chain"));
        Assert.That(_first.Received().Count, Is.EqualTo(before), "nothing was sent to an upstream the gateway could not authenticate");
    }

    [Test]
    public async Task CertificateForAnotherHost_Refused502EvenWithTheCaTrusted()
    {
        using var impostor = WireMockUpstream.StartTlsProvider(_ca.IssueServerCertificate("api.other-provider.example"));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(impostor.BaseUrl(), Trust) });

        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body()));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That(gateway.Logs.All, Does.Contain("RemoteCertificateNameMismatch"));
        Assert.That(impostor.Received(), Is.Empty);
    }

    [Test]
    public async Task HostileHostHeader_UpstreamStillGetsItsOwnHost()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(_first.BaseUrl(), Trust) });
        var before = _first.Received().Count;
        var request = gateway.Post("/v1/messages", Body());
        request.Headers.Host = "attacker.example";

        var (response, json) = await gateway.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), json?.ToJsonString());
        Assert.That(_first.Received().Skip(before).Single().Header("host"), Is.EqualTo($"localhost:{_first.BaseUrl().Port}"));
    }

    [Test]
    public async Task AbsoluteFormTarget_NeverChoosesTheUpstreamHost()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["tls.json"] = TestGateway.AnthropicChannel(_first.BaseUrl(), Trust) });
        var before = _first.Received().Count;
        var body = Body();

        // What a hostile client can put on the wire: an absolute-form target naming another host.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.BaseUrl.Port);
        var stream = tcp.GetStream();
        var head = $"POST http://attacker.example/v1/messages HTTP/1.1\r\nHost: attacker.example\r\nx-api-key: {TestGateway.AccessKey}\r\n"
            + $"content-type: application/json\r\ncontent-length: {Encoding.UTF8.GetByteCount(body)}\r\nconnection: close\r\n\r\n{body}";
        await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
        using var reader = new StreamReader(stream);
        var answer = await reader.ReadToEndAsync();

        // Either answered by the channel's upstream, under its own name, or refused with nothing sent.
        Assert.That(answer, Does.StartWith("HTTP/1.1 200").Or.StartWith("HTTP/1.1 400"));
        if (answer.StartsWith("HTTP/1.1 200", StringComparison.Ordinal))
        {
            Assert.That(_first.Received().Skip(before).Single().Header("host"), Is.EqualTo($"localhost:{_first.BaseUrl().Port}"));
        }
        else
        {
            Assert.That(_first.Received(), Has.Count.EqualTo(before), "a refused request reaches no upstream");
        }
    }
}
