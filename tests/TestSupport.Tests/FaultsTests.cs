using System.Net;
using System.Net.Sockets;
using NUnit.Framework;

namespace CcxProxy.TestSupport.Tests;

[TestFixture]
public sealed class FaultsTests
{
    private FakeUpstream _upstream = null!;
    private HttpClient _client = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = await FakeUpstream.StartAsync().Bounded();
        _client = TestTimeouts.NewClient();
        _client.BaseAddress = _upstream.BaseUrl;
    }

    [TearDown]
    public async Task TearDown()
    {
        _client.Dispose();
        await _upstream.DisposeAsync().AsTask().Bounded();
    }

    [Test]
    public async Task HangAsync_ClientCancels_ClientGetsCancellationAndHandlerEnds()
    {
        var handlerEnded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _upstream.Handler = async (_, ctx) =>
        {
            await Faults.HangAsync(ctx);
            handlerEnded.SetResult();
        };

        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        Assert.That(async () => await _client.GetAsync("/v1/messages", cts.Token).Bounded(), Throws.InstanceOf<OperationCanceledException>());
        await handlerEnded.Task.Bounded();
    }

    [Test]
    public async Task HangAfterHeadersAsync_ClientReadsBody_HeadersArriveThenBodyStalls()
    {
        _upstream.Handler = (_, ctx) => Faults.HangAfterHeadersAsync(ctx);

        using var response = await _client.GetAsync("/x", HttpCompletionOption.ResponseHeadersRead).Bounded();
        await using var body = await response.Content.ReadAsStreamAsync().Bounded();
        var read = body.ReadAsync(new byte[16]).AsTask();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/event-stream"));
        Assert.That(await Task.WhenAny(read, Task.Delay(200)).Bounded(), Is.Not.SameAs(read));
    }

    [Test]
    public void AbortAsync_Always_ClientGetsHttpRequestException()
    {
        _upstream.Handler = (_, ctx) => Faults.AbortAsync(ctx);

        Assert.That(async () => await _client.GetAsync("/v1/messages").Bounded(), Throws.InstanceOf<HttpRequestException>());
    }

    [Test]
    public async Task HtmlErrorAsync_Default_Returns502HtmlPage()
    {
        _upstream.Handler = (_, ctx) => Faults.HtmlErrorAsync(ctx);

        using var response = await _client.GetAsync("/v1/messages").Bounded();
        var body = await response.Content.ReadAsStringAsync().Bounded();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/html"));
        Assert.That(body, Does.Contain("502 Bad Gateway"));
    }

    [Test]
    public async Task StatusAsync_AnyStatus_WritesBodyAndContentType()
    {
        _upstream.Handler = (_, ctx) => Faults.StatusAsync(ctx, 503, "busy", "text/plain");

        using var response = await _client.GetAsync("/").Bounded();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await response.Content.ReadAsStringAsync().Bounded(), Is.EqualTo("busy"));
    }

    [Test]
    public async Task ClosedUrl_Connect_IsRefused()
    {
        var url = FreePort.ClosedUrl();

        var ex = await Assert.ThrowsAsync<HttpRequestException>(async () => await _client.GetAsync(url).Bounded());

        Assert.That(url.OriginalString, Does.Match(@"^http://127\.0\.0\.1:\d+$"));
        Assert.That(ex!.HttpRequestError, Is.EqualTo(HttpRequestError.ConnectionError));
        Assert.That((ex.InnerException as SocketException)?.SocketErrorCode, Is.EqualTo(SocketError.ConnectionRefused));
    }
}
