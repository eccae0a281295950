using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using WireMock;
using WireMock.Models;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.ResponseProviders;
using WireMock.Server;
using WireMock.Settings;
using WireMock.Types;
using WireMock.Util;

namespace CcxProxy.Tests.Support;

/// <summary>
/// WireMock.Net upstreams as the host tests use them: loopback only, on a free port, no admin API. A provider
/// upstream (<see cref="StartProvider"/>) answers like a real provider out of the box (<see cref="StockAnswer"/>),
/// and a test scripts what it needs with ordinary WireMock mappings, which win over the stock answers. What
/// arrived is read back from WireMock's log as <see cref="RecordedRequest"/>s.
/// </summary>
/// <remarks>
/// <para>
/// WireMock.Net 1.25.0's own <c>WithSseBody</c> creates its event queue once per mapping, so it streams on the
/// first matching call only and later calls get a 200 with an empty body (checked, and visible in its source).
/// <see cref="WithEvents"/> builds a fresh queue for every call instead, so a mapping streams every time, event by
/// event, with the pauses the steps ask for.
/// </para>
/// <para>
/// WireMock plays delays before the headers and pauses between events, but it cannot cut a stream or an answer
/// mid-way, reset a connection, or stall until the client gives up (it only pauses for a fixed time, and cannot
/// see the client leave): tests of those faults use the Kestrel fake (tests/TestSupport/FakeUpstream.cs).
/// </para>
/// <para>
/// WireMock drains a stream with a blocking read, so each stream it is playing holds a thread-pool thread. The
/// tests hold a handful at most; the pool grows past that on its own.
/// </para>
/// </remarks>
public static class WireMockUpstream
{
    /// <summary>The stock answers' priority: below every mapping a test adds (WireMock's default is 0; lower wins).</summary>
    private const int StockPriority = 1_000;

    /// <summary>Starts an upstream with no mappings: every request gets WireMock's 404 until a test adds some.</summary>
    /// <remarks>
    /// WireMock.Net 1.25.0 binds a <c>127.0.0.1</c> URL with Kestrel's <c>ListenLocalhost</c> (127.0.0.1 and ::1,
    /// loopback only) and reports it as <c>http://localhost:PORT</c>, so the gateway reaches it by name.
    /// </remarks>
    /// <returns>The running server.</returns>
    public static WireMockServer Start() => WireMockServer.Start(Settings("http"));

    /// <summary>
    /// Starts a provider upstream that speaks HTTPS with <paramref name="certificate"/> (HTTP/1.1 and HTTP/2, as
    /// real providers do), addressed as <c>https://localhost:PORT</c>.
    /// </summary>
    /// <param name="certificate">The server certificate, e.g. from <see cref="TestCertificateAuthority.IssueServerCertificate"/>.</param>
    /// <returns>The running server.</returns>
    public static WireMockServer StartTlsProvider(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        // Handed over as a PKCS#12 file: WireMock writes its settings to its log as JSON, and reading an ECDSA
        // certificate object's PrivateKey property for that throws.
        var password = Guid.NewGuid().ToString("N");
        var pfx = Path.Combine(Directory.CreateTempSubdirectory("ccx-wiremock-tls-").FullName, "server.pfx");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pfx, password));
        try
        {
            var settings = Settings("https");
            settings.CertificateSettings = new WireMockCertificateSettings { X509CertificateFilePath = pfx, X509CertificatePassword = password };
            var server = WireMockServer.Start(settings);
            server.AnswerLikeAProvider();
            return server;
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(pfx)!, recursive: true);
        }
    }

    /// <summary>
    /// Starts an upstream that answers like a provider (Anthropic messages and count_tokens, OpenAI chat
    /// completions, model lists, an Anthropic 404 otherwise), streaming when asked, naming the model it was sent.
    /// </summary>
    /// <param name="options">Number of streamed events and the pause between them; null for the defaults.</param>
    /// <returns>The running server.</returns>
    public static WireMockServer StartProvider(FakeUpstreamOptions? options = null)
    {
        var server = Start();
        server.AnswerLikeAProvider(options);
        return server;
    }

    private static WireMockServerSettings Settings(string scheme) => new()
    {
        Urls = [$"{scheme}://127.0.0.1:{FreePort.Get()}"],
        StartAdminInterface = false,
        // The body as the gateway sent it, as a real provider receives it.
        DisableRequestBodyDecompressing = true,
    };

    /// <summary>Adds the stock provider answers, below any mapping a test adds (after a <c>ResetMappings</c>, say).</summary>
    /// <param name="server">The server.</param>
    /// <param name="options">Number of streamed events and the pause between them; null for the defaults.</param>
    public static void AnswerLikeAProvider(this WireMockServer server, FakeUpstreamOptions? options = null)
        => server.Given(Request.Create().UsingAnyMethod()).AtPriority(StockPriority).RespondWith(Response.Create().WithStockAnswer(options));

    /// <summary>The server's address, <c>http://localhost:PORT</c> (or <c>https://</c>).</summary>
    /// <param name="server">The server.</param>
    /// <returns>The address.</returns>
    public static Uri BaseUrl(this WireMockServer server) => new(server.Url ?? throw new InvalidOperationException("WireMock is not listening."));

    /// <summary>What the server received, in arrival order, bodies as UTF-8 text.</summary>
    /// <remarks>
    /// WireMock logs a request once its answer is ready: after a delay (<see cref="SilentBeyond"/>) or a gated
    /// <see cref="WithAnswer(IResponseBuilder, Func{RecordedRequest, Task{StockAnswer}})"/>, and when a stream starts.
    /// </remarks>
    /// <param name="server">The server.</param>
    /// <returns>The requests.</returns>
    public static IReadOnlyList<RecordedRequest> Received(this WireMockServer server)
        => [.. server.LogEntries.Select(e => e.RequestMessage).OrderBy(r => r.DateTime).Select(Recorded)];

    /// <summary>Waits for a request matching <paramref name="predicate"/>, including one that has already arrived.</summary>
    /// <param name="server">The server.</param>
    /// <param name="predicate">The condition.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>The first matching request.</returns>
    /// <exception cref="TimeoutException">None arrived in time; the message lists those that did.</exception>
    public static async Task<RecordedRequest> WaitForRequestAsync(this WireMockServer server, Func<RecordedRequest, bool> predicate, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var received = server.Received();
            if (received.FirstOrDefault(predicate) is { } match)
            {
                return match;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"No matching request within {timeout}. Received: [{string.Join(", ", received.Select(r => $"{r.Method} {r.Path}{r.QueryString}"))}].");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Answers every request with <paramref name="response"/>, over the stock answers, until the test deletes the
    /// returned mapping (<see cref="WireMockServer.DeleteMapping"/>): an upstream that is down, then recovers.
    /// </summary>
    /// <param name="server">The server.</param>
    /// <param name="response">The answer.</param>
    /// <returns>The mapping's id.</returns>
    public static Guid AnswerEveryRequest(this WireMockServer server, IResponseProvider response)
    {
        var mapping = Guid.NewGuid();
        server.Given(Request.Create().UsingAnyMethod()).WithGuid(mapping).RespondWith(response);
        return mapping;
    }

    /// <summary>
    /// An Anthropic error answer: <paramref name="status"/> with <c>{"type":"error","error":{…},"request_id"}</c> and
    /// the same id in a <c>request-id</c> header, a new one per call.
    /// </summary>
    /// <remarks>Other headers go in <paramref name="headers"/>: WireMock replaces all of an answer's headers with any set on the builder.</remarks>
    /// <param name="status">The HTTP status.</param>
    /// <param name="type">The <c>error.type</c>, e.g. <c>overloaded_error</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <param name="headers">More headers, e.g. <c>("retry-after", "30")</c>.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder AnthropicError(int status, string type, string message, params (string Name, string Value)[] headers)
    {
        var extra = headers.ToDictionary(h => h.Name, h => h.Value, StringComparer.OrdinalIgnoreCase);
        return Response.Create().WithAnswer(_ => StockAnswer.OfJson(status, FakeAnthropic.ErrorBody(type, message)) with { Headers = extra });
    }

    /// <summary>An HTML error page such as a load balancer in front of the upstream returns (<see cref="Faults.HtmlErrorPage"/>).</summary>
    /// <param name="status">The HTTP status.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder HtmlError(int status)
        => Response.Create().WithStatusCode(status).WithHeader("Content-Type", "text/html").WithBody(Faults.HtmlErrorPage(status));

    /// <summary>
    /// An upstream that sends nothing, not even its headers, for longer than the gateway waits for them: WireMock's
    /// delay (<see cref="Silence"/>), then the stock answer.
    /// </summary>
    /// <remarks>
    /// WireMock logs the request only when the delay is over: to count what arrived, wait <see cref="Silence"/> after
    /// the gateway has answered.
    /// </remarks>
    /// <param name="gatewayTimeout">The gateway's <c>timeouts.responseHeaders</c> for the channel.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder SilentBeyond(TimeSpan gatewayTimeout)
        => Response.Create().WithDelay(Silence(gatewayTimeout)).WithStockAnswer();

    /// <summary>How long <see cref="SilentBeyond"/> stays silent: well past the gateway's timeout, and bounded.</summary>
    /// <param name="gatewayTimeout">The gateway's <c>timeouts.responseHeaders</c> for the channel.</param>
    /// <returns>The delay.</returns>
    public static TimeSpan Silence(TimeSpan gatewayTimeout) => gatewayTimeout * 3;

    /// <summary>Answers with <paramref name="body"/> as <c>application/json</c>.</summary>
    /// <param name="response">The response being built.</param>
    /// <param name="body">The body.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder WithJson(this IResponseBuilder response, JsonNode body)
        => response.WithHeader("Content-Type", FakeAnthropic.JsonContentType).WithBody(body.ToJsonString());

    /// <summary>The provider's stock answer to each call (<see cref="StockAnswer.For"/>).</summary>
    /// <param name="response">The response being built.</param>
    /// <param name="options">Number of streamed events and the pause between them; null for the defaults.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder WithStockAnswer(this IResponseBuilder response, FakeUpstreamOptions? options = null)
    {
        var knobs = options ?? new FakeUpstreamOptions();
        return response.WithAnswer(request => StockAnswer.For(request, knobs));
    }

    /// <summary>
    /// Answers each call with what <paramref name="answer"/> makes of it: JSON with a status, or a stream played
    /// event by event. Headers belong in the answer (<see cref="StockAnswer.Headers"/>): WireMock replaces a
    /// callback's headers with any set on the builder.
    /// </summary>
    /// <param name="response">The response being built.</param>
    /// <param name="answer">The answer to a request.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder WithAnswer(this IResponseBuilder response, Func<RecordedRequest, StockAnswer> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return response.WithCallback(request => Answer(answer(Recorded(request)), request));
    }

    /// <summary>As <see cref="WithAnswer(IResponseBuilder, Func{RecordedRequest, StockAnswer})"/>, for an answer that waits (on a gate the test opens).</summary>
    /// <param name="response">The response being built.</param>
    /// <param name="answer">The answer to a request.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder WithAnswer(this IResponseBuilder response, Func<RecordedRequest, Task<StockAnswer>> answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        return response.WithCallback(async request => (IResponseMessage)Answer(await answer(Recorded(request)), request));
    }

    /// <summary>
    /// A 200 <c>text/event-stream</c> answer that plays the steps <paramref name="steps"/> gives for each call, event
    /// by event, pausing and waiting on gates as they say. Every call gets its own stream.
    /// </summary>
    /// <param name="response">The response being built.</param>
    /// <param name="steps">The steps for a call: frames, raw text, pauses and gates. A cut (<see cref="StreamStep.Abort"/>) needs the Kestrel fake.</param>
    /// <returns>The builder.</returns>
    public static IResponseBuilder WithEvents(this IResponseBuilder response, Func<RecordedRequest, IEnumerable<StreamStep>> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        return response.WithCallback(request => Stream(steps(Recorded(request))));
    }

    private static ResponseMessage Answer(StockAnswer answer, IRequestMessage request)
    {
        var message = answer.Stream is { } steps ? Stream(steps) : Json(answer.Status, answer.Json!, request);
        var headers = message.Headers!;
        foreach (var (name, value) in answer.Headers)
        {
            headers[name] = new WireMockList<string>(value);
        }

        return message;
    }

    private static ResponseMessage Json(int status, JsonNode body, IRequestMessage request)
    {
        var requestId = ((body as JsonObject)?["request_id"] as JsonValue)?.GetValue<string>() ?? $"req_wm_{request.DateTime.Ticks}";
        return new ResponseMessage
        {
            StatusCode = status,
            BodyData = new BodyData { DetectedBodyType = BodyType.String, BodyAsString = body.ToJsonString(), Encoding = Encoding.UTF8 },
            Headers = Headers(("Content-Type", FakeAnthropic.JsonContentType), ("request-id", requestId)),
        };
    }

    private static ResponseMessage Stream(IEnumerable<StreamStep> steps)
    {
        IReadOnlyList<StreamStep> script = [.. steps];
        // Refused here, before any byte: played, a cut would end the stream cleanly and pass for "ends early".
        if (script.FirstOrDefault(step => step is not (StreamStep.Frame or StreamStep.RawText or StreamStep.Pause or StreamStep.WaitFor)) is { } unplayable)
        {
            throw new NotSupportedException($"WireMock cannot play {unplayable}: use the Kestrel fake (FakeUpstream).");
        }

        var queue = new EventQueue();
        return new ResponseMessage
        {
            StatusCode = 200,
            BodyData = new BodyData
            {
                DetectedBodyType = BodyType.SseString,
                SseStringQueue = queue,
                BodyAsSseStringTask = PlayAsync(script, queue),
                Encoding = Encoding.UTF8,
            },
            Headers = Headers(("Content-Type", FakeAnthropic.StreamContentType), ("Cache-Control", "no-cache")),
        };
    }

    /// <summary>Response headers keyed without regard to case, as HTTP has them, so an answer's own replace the defaults.</summary>
    private static Dictionary<string, WireMockList<string>> Headers(params (string Name, string Value)[] headers)
        => headers.ToDictionary(h => h.Name, h => new WireMockList<string>(h.Value), StringComparer.OrdinalIgnoreCase);

    private static async Task PlayAsync(IReadOnlyList<StreamStep> steps, IBlockingQueue<string?> queue)
    {
        try
        {
            // An empty write flushes the headers now, as a real upstream does before its first event: a test can
            // see a stream that has started but is silent.
            queue.Write("");
            foreach (var step in steps)
            {
                switch (step)
                {
                    case StreamStep.Frame or StreamStep.RawText:
                        queue.Write(step.WireText);
                        break;
                    case StreamStep.Pause pause:
                        await Task.Delay(pause.Duration);
                        break;
                    case StreamStep.WaitFor wait:
                        await wait.Gate.WaitAsync(TimeSpan.FromSeconds(30));
                        break;
                }
            }
        }
        catch (TimeoutException)
        {
            // A gate the test never opened: the stream says so instead of ending as if it were whole.
            queue.Write("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"WireMock: the test never opened the gate\"}}\n\n");
        }
        finally
        {
            queue.Close();
        }
    }

    /// <summary>
    /// The queue WireMock's SSE writer drains: it writes each item as it arrives and ends the body when a read
    /// returns null. WireMock's own queue is internal, hence this one.
    /// </summary>
    private sealed class EventQueue : IBlockingQueue<string?>
    {
        private readonly BlockingCollection<string> _items = [];

        public void Write(string? item)
        {
            if (item is not null)
            {
                _items.Add(item);
            }
        }

        public bool TryRead([NotNullWhen(true)] out string? item)
        {
            // Blocks until the next event or the end: the player always closes the queue (PlayAsync's finally).
            var taken = _items.TryTake(out var next, Timeout.Infinite);
            item = next;
            return taken;
        }

        public void Close() => _items.CompleteAdding();
    }

    private static RecordedRequest Recorded(IRequestMessage request)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in request.Headers ?? new Dictionary<string, WireMockList<string>>())
        {
            headers[name] = string.Join(", ", values);
        }

        var body = request.BodyAsBytes is { } bytes ? Encoding.UTF8.GetString(bytes) : request.Body ?? "";
        // The path and query as they were on the wire (WireMock's Path is decoded).
        var url = new Uri(request.AbsoluteUrl);
        return new RecordedRequest(request.Method, url.AbsolutePath, url.Query, headers, body);
    }
}
