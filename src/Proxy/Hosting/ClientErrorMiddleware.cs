using CcxProxy.Errors;
using CcxProxy.Logging;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Hosting;

/// <summary>
/// The last line of defence for an answer: a request Kestrel found malformed while the application read it
/// (bad chunked framing, a body cut short) gets a 400 in the caller's protocol and one log line, not an
/// "unhandled exception" with a stack trace; any other exception that escapes still gets a body in the
/// caller's protocol (a 500 naming the request id), never an empty answer, and is logged as the bug it is.
/// </summary>
internal sealed partial class ClientErrorMiddleware(RequestDelegate next, ILogger<ClientErrorMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted)
        {
            Log.MalformedRequest(logger, context.Request.Method, LogText.Escape(context.Request.Path.Value) ?? "", ex.StatusCode, LogText.Escape(ex.Message) ?? "");
            await GatewayErrors.WriteAsync(context, new GatewayError(ex.StatusCode is >= 400 and < 500 ? ex.StatusCode : StatusCodes.Status400BadRequest,
                $"the request could not be read: {ex.Message}")).ConfigureAwait(false);
        }
        catch (Exception ex) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested && ex is not OperationCanceledException)
        {
            Log.Unexpected(logger, ex);
            await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status500InternalServerError,
                $"the gateway failed to handle this request (request id {RequestIds.Get(context)}); this is a gateway bug, please report it")).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Rejected a malformed request {Method} {Path}: {Status} {Reason}")]
        public static partial void MalformedRequest(ILogger logger, string method, string path, int status, string reason);

        [LoggerMessage(2, LogLevel.Error, "Unhandled exception while handling a request")]
        public static partial void Unexpected(ILogger logger, Exception exception);
    }
}
