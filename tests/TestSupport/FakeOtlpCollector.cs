using System.Collections.Concurrent;
using System.IO.Compression;
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
/// An OTLP/HTTP collector that understands nothing: a real Kestrel server on 127.0.0.1 that accepts
/// <c>POST /v1/traces</c>, <c>/v1/metrics</c> and <c>/v1/logs</c> (http/protobuf), keeps every body's bytes
/// and answers 200 with an empty protobuf message (a valid, empty <c>Export*ServiceResponse</c>).
/// Protobuf strings are raw UTF-8, so tests can search the bytes for names and secrets without decoding.
/// </summary>
public sealed class FakeOtlpCollector : IAsyncDisposable
{
    /// <summary>The signals OTLP/HTTP sends, each to <c>/v1/{signal}</c>.</summary>
    public static readonly IReadOnlyList<string> Signals = ["traces", "metrics", "logs"];

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<byte[]>> _bodies = new(StringComparer.Ordinal);
    private int _disposed;

    private FakeOtlpCollector(WebApplication app)
    {
        _app = app;
        foreach (var signal in Signals)
        {
            _bodies[signal] = new ConcurrentQueue<byte[]>();
        }
    }

    /// <summary>The collector's base address, <c>http://127.0.0.1:PORT</c> (no trailing slash), as <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> takes it.</summary>
    public string Endpoint { get; private set; } = "";

    /// <summary>Starts a collector on a free loopback port.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running collector.</returns>
    public static async Task<FakeOtlpCollector> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton<IHostLifetime, NoopHostLifetime>();

        var app = builder.Build();
        var collector = new FakeOtlpCollector(app);
        app.Run(collector.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken);
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
            collector.Endpoint = address.TrimEnd('/');
            return collector;
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
    }

    /// <summary>The bodies received for one signal (<c>traces</c>, <c>metrics</c> or <c>logs</c>), in arrival order.</summary>
    /// <param name="signal">The signal.</param>
    /// <returns>A snapshot of the bodies.</returns>
    public IReadOnlyList<byte[]> Bodies(string signal) => [.. _bodies[signal]];

    /// <summary>Every body received, whatever its signal.</summary>
    /// <returns>A snapshot of the bodies.</returns>
    public IReadOnlyList<byte[]> AllBodies() => [.. Signals.SelectMany(Bodies)];

    /// <summary>Whether any body of <paramref name="signal"/> contains the UTF-8 bytes of <paramref name="text"/>.</summary>
    /// <param name="signal">The signal.</param>
    /// <param name="text">The text to look for.</param>
    /// <returns>True when found.</returns>
    public bool Received(string signal, string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return Bodies(signal).Any(body => body.AsSpan().IndexOf(needle) >= 0);
    }

    /// <summary>Stops the server.</summary>
    /// <returns>A task that completes when the server is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

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

    private async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "";
        var signal = path.StartsWith("/v1/", StringComparison.Ordinal) ? path["/v1/".Length..] : "";
        if (!HttpMethods.IsPost(ctx.Request.Method) || !_bodies.TryGetValue(signal, out var bodies))
        {
            ctx.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }

        using var buffer = new MemoryStream();
        if (string.Equals(ctx.Request.Headers.ContentEncoding, "gzip", StringComparison.OrdinalIgnoreCase))
        {
            await using var gzip = new GZipStream(ctx.Request.Body, CompressionMode.Decompress, leaveOpen: true);
            await gzip.CopyToAsync(buffer, ctx.RequestAborted);
        }
        else
        {
            await ctx.Request.Body.CopyToAsync(buffer, ctx.RequestAborted);
        }

        bodies.Enqueue(buffer.ToArray());
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/x-protobuf";
        ctx.Response.ContentLength = 0;
    }

    private sealed class NoopHostLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
