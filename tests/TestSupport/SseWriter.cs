using System.Text;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.TestSupport;

/// <summary>Plays a list of <see cref="StreamStep"/>s as an SSE response, flushing after every frame.</summary>
internal static class SseWriter
{
    public const string ContentType = "text/event-stream; charset=utf-8";

    private static readonly TimeSpan AbortGrace = TimeSpan.FromMilliseconds(100);

    public static async Task WriteAsync(HttpContext ctx, IEnumerable<StreamStep> steps, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(steps);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, ctx.RequestAborted);
        var ct = linked.Token;

        if (!ctx.Response.HasStarted)
        {
            ctx.Response.StatusCode = StatusCodes.Status200OK;
            ctx.Response.ContentType = ContentType;
            ctx.Response.Headers.CacheControl = "no-cache";
            // Send the headers now, as a real upstream does, so a test can see a stream that
            // has started but stalls before its first event.
            await ctx.Response.StartAsync(ct);
            await ctx.Response.Body.FlushAsync(ct);
        }

        foreach (var step in steps)
        {
            switch (step)
            {
                case StreamStep.Frame or StreamStep.RawText:
                    await WriteAndFlushAsync(ctx, step.WireText!, ct);
                    break;
                case StreamStep.Pause pause:
                    await Task.Delay(pause.Duration, ct);
                    break;
                case StreamStep.WaitFor wait:
                    await wait.Gate.WaitAsync(ct);
                    break;
                case StreamStep.AbortConnection:
                    // FlushAsync only hands bytes to Kestrel's output pipe; an immediate Abort can
                    // discard them unsent (and the reset can make the client drop what it already
                    // got). A short pause lets the earlier events reach the client before the cut.
                    await Task.Delay(AbortGrace, ct);
                    ctx.Abort();
                    return;
                default:
                    throw new NotSupportedException($"Unknown stream step {step}.");
            }
        }
    }

    private static async Task WriteAndFlushAsync(HttpContext ctx, string text, CancellationToken ct)
    {
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await ctx.Response.Body.FlushAsync(ct);
    }
}
