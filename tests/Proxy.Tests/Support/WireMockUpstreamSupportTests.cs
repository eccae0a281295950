using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Support;

/// <summary>
/// The WireMock upstream the host tests rely on: stock provider answers that a test's mappings override, SSE that
/// streams on every call (WireMock.Net 1.25.0's own <c>WithSseBody</c> does not) and event by event, and a log of
/// what arrived.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class WireMockUpstreamSupportTests
{
    private static readonly HttpClient s_client = new();

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Test]
    public async Task StockAnswers_EveryStreamedCallStreams_JsonNamesTheModelSent()
    {
        using var upstream = WireMockUpstream.StartProvider();
        var url = new Uri(upstream.BaseUrl(), "/v1/messages");

        for (var call = 0; call < 3; call++)
        {
            using var streamed = await s_client.PostAsync(url, Json("""{"model":"m-1","stream":true,"max_tokens":5,"messages":[]}"""));
            var frames = await SseReader.ReadAsync(await streamed.Content.ReadAsStreamAsync()).ToListAsync();
            Assert.That(streamed.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
            Assert.That(frames.Select(f => f.Event), Does.Contain("message_start").And.Contain("message_stop"), $"call {call}");
        }

        using var whole = await s_client.PostAsync(url, Json("""{"model":"m-2","max_tokens":5,"messages":[]}"""));
        var message = JsonNode.Parse(await whole.Content.ReadAsStringAsync())!;
        Assert.That(message["model"]!.GetValue<string>(), Is.EqualTo("m-2"));
        Assert.That(whole.Headers.GetValues("request-id").Single(), Does.StartWith("req_"));
    }

    [Test]
    public async Task TestsMapping_WinsOverTheStockAnswer_OtherPathsKeepIt()
    {
        using var upstream = WireMockUpstream.StartProvider();
        upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(529).WithJson(FakeAnthropic.ErrorBody("overloaded_error", "Overloaded")));

        using var scripted = await s_client.PostAsync(new Uri(upstream.BaseUrl(), "/v1/messages"), Json("""{"model":"m"}"""));
        using var stock = await s_client.PostAsync(new Uri(upstream.BaseUrl(), "/v1/chat/completions"), Json("""{"model":"m"}"""));
        using var unknown = await s_client.GetAsync(new Uri(upstream.BaseUrl(), "/v1/nothing"));

        Assert.That((int)scripted.StatusCode, Is.EqualTo(529));
        Assert.That(stock.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(JsonNode.Parse(await stock.Content.ReadAsStringAsync())!["object"]!.GetValue<string>(), Is.EqualTo("chat.completion"));
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["error"]!["type"]!.GetValue<string>(), Is.EqualTo("not_found_error"));
    }

    [Test]
    public async Task WithEvents_FirstEventArrivesBeforeTheRestIsWritten()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithEvents(_ =>
            [StreamStep.DataOnly("first"), StreamStep.Wait(gate.Task), StreamStep.DataOnly("second")]));

        using var request = new HttpRequestMessage(HttpMethod.Post, upstream.BaseUrl()) { Content = Json("{}") };
        using var response = await s_client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await using var enumerator = SseReader.ReadAsync(await response.Content.ReadAsStreamAsync()).GetAsyncEnumerator();

        Assert.That(await enumerator.MoveNextAsync(), Is.True);
        Assert.That(enumerator.Current.Data, Is.EqualTo("first"), "the first event came while the stream was held open");
        gate.SetResult();
        Assert.That(await enumerator.MoveNextAsync(), Is.True);
        Assert.That(enumerator.Current.Data, Is.EqualTo("second"));
        Assert.That(await enumerator.MoveNextAsync(), Is.False);
    }

    [Test]
    public async Task Received_HoldsMethodPathQueryHeadersAndBody_InArrivalOrder()
    {
        using var upstream = WireMockUpstream.StartProvider();
        using var first = new HttpRequestMessage(HttpMethod.Post, new Uri(upstream.BaseUrl(), "/v1/messages?beta=true")) { Content = Json("""{"model":"é"}""") };
        first.Headers.Add("x-api-key", "k-1");
        using var _ = await s_client.SendAsync(first);
        using var __ = await s_client.GetAsync(new Uri(upstream.BaseUrl(), "/v1/models"));

        var received = upstream.Received();
        var waited = await upstream.WaitForRequestAsync(r => r.Method == "GET", TimeSpan.FromSeconds(5));

        Assert.That(received.Select(r => r.Path), Is.EqualTo(new[] { "/v1/messages", "/v1/models" }));
        Assert.That(received[0].QueryString, Is.EqualTo("?beta=true"));
        Assert.That(received[0].Header("X-API-KEY"), Is.EqualTo("k-1"));
        Assert.That(received[0].Model, Is.EqualTo("é"));
        Assert.That(waited.Path, Is.EqualTo("/v1/models"));
        await Assert.ThrowsAsync<TimeoutException>(() => upstream.WaitForRequestAsync(r => r.Method == "PUT", TimeSpan.FromMilliseconds(100)));
    }

    [Test]
    public async Task WithEvents_ACut_RefusedBeforeAnyByte_NotPlayedAsAShortCleanStream()
    {
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithEvents(_ =>
            [FakeAnthropic.MessageStart("m"), StreamStep.Abort()]));

        using var response = await s_client.PostAsync(upstream.BaseUrl(), Json("{}"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(body, Does.Contain("Kestrel fake").And.Not.Contain("message_start"));
    }

    [Test]
    public async Task AnthropicError_NewRequestIdPerCall_InBodyAndHeader_ExtraHeadersKeepTheContentType()
    {
        using var upstream = WireMockUpstream.Start();
        upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(429, "rate_limit_error", "slow down", ("Retry-After", "7"), ("content-type", "application/json; charset=utf-8")));

        var ids = new List<string>();
        for (var call = 0; call < 2; call++)
        {
            using var response = await s_client.PostAsync(upstream.BaseUrl(), Json("{}"));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            var id = body["request_id"]!.GetValue<string>();
            Assert.That((int)response.StatusCode, Is.EqualTo(429));
            Assert.That(response.Headers.GetValues("request-id").Single(), Is.EqualTo(id));
            Assert.That(response.Headers.RetryAfter!.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
            Assert.That(response.Content.Headers.GetValues("Content-Type").Single(), Is.EqualTo("application/json; charset=utf-8"), "replaced, not repeated");
            ids.Add(id);
        }

        Assert.That(ids.Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task Received_PathAsSentOnTheWire_NotDecoded()
    {
        using var upstream = WireMockUpstream.StartProvider();

        using var _ = await s_client.GetAsync(new Uri(upstream.BaseUrl(), "/v1/models/a%2Fb?q=a+b"));

        var seen = upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/models/a%2Fb"));
        Assert.That(seen.QueryString, Is.EqualTo("?q=a+b"));
    }
}
