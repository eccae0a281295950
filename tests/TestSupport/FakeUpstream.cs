using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CcxProxy.TestSupport;

/// <summary>
/// A scripted upstream: a real Kestrel server on 127.0.0.1 that records every request (body
/// read in full first) and answers it with <see cref="Handler"/>. Start one per test.
/// </summary>
/// <remarks>
/// The host tests use WireMock.Net wherever it can play the upstream (tests/Proxy.Tests/Support/WireMockUpstream.cs:
/// request matching, its log, scenarios, delays, streams, TLS). This fake stays for what WireMock cannot do: cut a
/// stream or an answer mid-way, reset a connection, stall after the headers until the client gives up, and see the
/// client go away. The benchmarks and tools/FakeUpstream use it as a plain fast upstream.
/// </remarks>
public sealed class FakeUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<(Func<RecordedRequest, bool> Predicate, TaskCompletionSource<RecordedRequest> Waiter)> _waiters = [];
    private Func<RecordedRequest, HttpContext, Task> _handler;
    private int _disposed;

    private FakeUpstream(WebApplication app, FakeUpstreamOptions options)
    {
        _app = app;
        Options = options;
        DefaultHandler = CreateDefaultHandler(options);
        _handler = DefaultHandler;
        BaseUrl = new Uri("http://127.0.0.1");
    }

    /// <summary>The server's address, <c>http://127.0.0.1:PORT</c>.</summary>
    /// <remarks>
    /// <see cref="Uri.OriginalString"/> has no trailing slash; <see cref="Uri.ToString"/> adds one, as
    /// System.Uri always does for a bare authority. <c>new Uri(BaseUrl, "/v1/messages")</c> works either way.
    /// </remarks>
    public Uri BaseUrl { get; private set; }

    /// <summary>The port Kestrel is listening on.</summary>
    public int Port => BaseUrl.Port;

    /// <summary>The options the default handler was built with.</summary>
    public FakeUpstreamOptions Options { get; }

    /// <summary>
    /// The stock answers: Anthropic messages and count_tokens, OpenAI chat completions, model lists, and a
    /// 404 Anthropic error for anything else. Assign it back to <see cref="Handler"/> to undo a script.
    /// </summary>
    public Func<RecordedRequest, HttpContext, Task> DefaultHandler { get; }

    /// <summary>The script: called for every request, after the request is recorded; writes the response.</summary>
    public Func<RecordedRequest, HttpContext, Task> Handler
    {
        get => Volatile.Read(ref _handler);
        set => Volatile.Write(ref _handler, value ?? throw new ArgumentNullException(nameof(value)));
    }

    /// <summary>A snapshot of the requests received so far, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Starts a fake upstream on a free port with the default options.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server.</returns>
    public static Task<FakeUpstream> StartAsync(CancellationToken cancellationToken = default)
        => StartAsync(0, null, cancellationToken);

    /// <summary>Starts a fake upstream on 127.0.0.1.</summary>
    /// <param name="port">The port, or 0 for a free one.</param>
    /// <param name="options">Knobs of the default handler; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server.</returns>
    public static async Task<FakeUpstream> StartAsync(int port, FakeUpstreamOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        // The empty builder reads no appsettings.json or environment, so nothing on the test
        // machine can change the port or the log level.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, port);
            kestrel.Limits.MaxRequestBodySize = null;
        });
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        // Tests must not lose Ctrl+C to a fake; the tool handles signals itself.
        builder.Services.AddSingleton<IHostLifetime, NoopHostLifetime>();

        var app = builder.Build();
        var upstream = new FakeUpstream(app, options ?? new FakeUpstreamOptions());
        app.Run(upstream.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken);
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            var address = addresses.FirstOrDefault() ?? throw new InvalidOperationException("Kestrel reported no address.");
            upstream.BaseUrl = new Uri(address.TrimEnd('/'));

            return upstream;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits for a request matching <paramref name="predicate"/>, including one that has already arrived.</summary>
    /// <param name="predicate">The condition.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <returns>The first matching request.</returns>
    /// <exception cref="TimeoutException">No matching request arrived in time; the message lists those that did.</exception>
    public async Task<RecordedRequest> WaitForRequestAsync(Func<RecordedRequest, bool> predicate, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var waiter = new TaskCompletionSource<RecordedRequest>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            var match = _requests.FirstOrDefault(predicate);
            if (match is not null)
            {
                return match;
            }

            _waiters.Add((predicate, waiter));
        }

        try
        {
            return await waiter.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_lock)
            {
                _waiters.RemoveAll(w => w.Waiter == waiter);
            }

            var seen = string.Join(", ", Requests.Select(r => $"{r.Method} {r.Path}{r.QueryString}"));
            throw new TimeoutException($"No matching request within {timeout}. Received: [{seen}].");
        }
    }

    /// <summary>Stops the server, cutting any request still running.</summary>
    /// <returns>A task that completes when the server is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // A short grace period: hanging handlers are cut rather than waited for.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await _app.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Connections still open after the grace period are closed by DisposeAsync below.
        }

        await _app.DisposeAsync();
    }

    /// <summary>The default handler, as a function of <paramref name="options"/>.</summary>
    /// <param name="options">Number of streamed events and the pause between them.</param>
    /// <returns>The handler.</returns>
    public static Func<RecordedRequest, HttpContext, Task> CreateDefaultHandler(FakeUpstreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return (request, ctx) => DefaultAnswerAsync(options, request, ctx);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        var request = await RecordAsync(ctx);
        try
        {
            await Handler(request, ctx);
        }
        catch (Exception ex) when (ctx.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            // The client went away (or the script aborted the connection): nothing to answer.
        }
    }

    private async Task<RecordedRequest> RecordAsync(HttpContext ctx)
    {
        string body;
        using (var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(ctx.RequestAborted);
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in ctx.Request.Headers)
        {
            headers[name] = string.Join(", ", values.ToArray());
        }

        var request = new RecordedRequest(
            ctx.Request.Method,
            ctx.Request.PathBase.Add(ctx.Request.Path).Value ?? "/",
            ctx.Request.QueryString.Value ?? "",
            headers,
            body);

        List<TaskCompletionSource<RecordedRequest>> matched = [];
        lock (_lock)
        {
            _requests.Add(request);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Predicate(request))
                {
                    matched.Add(_waiters[i].Waiter);
                    _waiters.RemoveAt(i);
                }
            }
        }

        foreach (var waiter in matched)
        {
            waiter.TrySetResult(request);
        }

        return request;
    }

    private static Task DefaultAnswerAsync(FakeUpstreamOptions options, RecordedRequest request, HttpContext ctx)
    {
        var answer = StockAnswer.For(request, options);
        foreach (var (name, value) in answer.Headers)
        {
            ctx.Response.Headers[name] = value;
        }

        return answer.Stream is { } steps
            ? SseWriter.WriteAsync(ctx, steps, ctx.RequestAborted)
            : FakeAnthropic.WriteJsonAsync(ctx, answer.Status, answer.Json!);
    }

    private sealed class NoopHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
