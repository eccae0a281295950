using System.Buffers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace CcxProxy.Bench;

/// <summary>
/// The floor for the trickle scenarios: the least a relay built on the same parts as the gateway (Kestrel in front,
/// <see cref="SocketsHttpHandler"/> behind) can do per stream and per event. It forwards the body and the key as
/// they came, then copies the upstream's bytes to the client as they arrive: a zero-byte read to wait, a read
/// into a pooled buffer, a write and a flush. No routing, parsing, conversion, limits or telemetry. Run as
/// <c>gateway-bench --floor-relay UPSTREAM --urls URL</c> in a process of its own, measured as the gateway is.
/// </summary>
internal static class FloorRelay
{
    public const string Argument = "--floor-relay";

    private static readonly string[] s_forwarded = ["x-api-key", "authorization", "anthropic-version"];

    public static async Task<int> RunAsync(string[] args)
    {
        var upstream = new Uri(args[1]);
        var builder = WebApplication.CreateSlimBuilder(args[2..]);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        using var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, UseCookies = false, MaxConnectionsPerServer = int.MaxValue })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

        app.MapGet("/readyz", () => "ready");
        app.MapPost("/{**path}", (HttpContext context) => RelayAsync(context, client, upstream));
        await app.RunAsync();
        return 0;
    }

    private static async Task RelayAsync(HttpContext context, HttpClient client, Uri upstream)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(upstream, context.Request.Path.Value)) { Content = new ByteArrayContent(body.ToArray()) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        foreach (var name in s_forwarded)
        {
            if (context.Request.Headers.TryGetValue(name, out var value))
            {
                request.Headers.TryAddWithoutValidation(name, value.ToString());
            }
        }

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)response.StatusCode;
        context.Response.ContentType = response.Content.Headers.ContentType?.ToString();
        await using var stream = await response.Content.ReadAsStreamAsync(context.RequestAborted);
        var output = context.Response.BodyWriter;
        while (true)
        {
            // Wait for bytes without holding a buffer (as the gateway's SseReader, Kestrel and YARP do).
            _ = await stream.ReadAsync(Memory<byte>.Empty, context.RequestAborted);
            var buffer = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                var read = await stream.ReadAsync(buffer, context.RequestAborted);
                if (read == 0)
                {
                    return;
                }

                output.Write(buffer.AsSpan(0, read));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            await output.FlushAsync(context.RequestAborted);
        }
    }
}
