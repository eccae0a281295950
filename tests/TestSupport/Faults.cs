using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace CcxProxy.TestSupport;

/// <summary>Upstream misbehaviour for resilience tests: hangs, cut connections, odd statuses, proxy HTML pages.</summary>
public static class Faults
{
    /// <summary>Never answers: waits until the client goes away, then returns quietly.</summary>
    /// <param name="ctx">The request to leave unanswered.</param>
    /// <returns>A task that completes when the client has gone.</returns>
    public static async Task HangAsync(HttpContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        try
        {
            await Task.Delay(Timeout.Infinite, ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client went away: that is the only way out.
        }
    }

    /// <summary>Sends 200 and SSE headers, then never sends a byte of body until the client goes away.</summary>
    /// <param name="ctx">The request.</param>
    /// <returns>A task that completes when the client has gone.</returns>
    public static async Task HangAfterHeadersAsync(HttpContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        try
        {
            await SseWriter.WriteAsync(ctx, [StreamStep.Wait(Task.Delay(Timeout.Infinite, ctx.RequestAborted))], ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
    }

    /// <summary>Cuts the connection without an answer.</summary>
    /// <param name="ctx">The request.</param>
    /// <returns>A completed task.</returns>
    public static Task AbortAsync(HttpContext ctx)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ctx.Abort();
        return Task.CompletedTask;
    }

    /// <summary>Answers with any status, body and content type.</summary>
    /// <param name="ctx">The request.</param>
    /// <param name="status">The HTTP status.</param>
    /// <param name="body">The body text (UTF-8).</param>
    /// <param name="contentType">The content type.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static async Task StatusAsync(HttpContext ctx, int status, string body, string contentType)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(body), ctx.RequestAborted);
    }

    /// <summary>An HTML error page such as a load balancer in front of the upstream returns (nginx style).</summary>
    /// <param name="ctx">The request.</param>
    /// <param name="status">The HTTP status, 502 by default.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static Task HtmlErrorAsync(HttpContext ctx, int status = StatusCodes.Status502BadGateway)
        => StatusAsync(ctx, status, HtmlErrorPage(status), "text/html");

    /// <summary>The page <see cref="HtmlErrorAsync"/> sends: nginx's error page for <paramref name="status"/>.</summary>
    /// <param name="status">The HTTP status.</param>
    /// <returns>The HTML.</returns>
    public static string HtmlErrorPage(int status)
    {
        var title = $"{status} {ReasonPhrases.GetReasonPhrase(status)}";
        return $"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    }
}
