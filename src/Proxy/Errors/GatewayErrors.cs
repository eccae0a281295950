using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Errors;

/// <summary>
/// The one place the gateway writes its own error responses, in the caller's protocol (docs/protocols.md §5),
/// with the headers clients act on.
/// </summary>
public static class GatewayErrors
{
    /// <summary>Writes an error unless the response has already started (then there is nothing to do).</summary>
    /// <param name="context">The request.</param>
    /// <param name="status">The HTTP status.</param>
    /// <param name="message">What went wrong, for the caller.</param>
    /// <param name="code">OpenAI's machine-readable <c>code</c> (ignored in Anthropic's shape).</param>
    /// <param name="headers">Headers to send with the error (e.g. <c>retry-after</c>); set after the response is reset.</param>
    public static Task WriteAsync(HttpContext context, int status, string message, string? code = null, Action<IHeaderDictionary>? headers = null)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }

        response.Clear();
        response.StatusCode = status;
        var requestId = RequestIds.Get(context);
        if (requestId is not null)
        {
            response.Headers[RequestIds.Header] = requestId;
        }

        // Retrying cannot fix these; Claude Code otherwise retries a 401 for minutes before it tells the user.
        if (status is 401 or 402 or 403)
        {
            response.Headers["x-should-retry"] = "false";
        }

        if (status == 401)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"ccx-proxy\"";
        }

        headers?.Invoke(response.Headers);
        if (Telemetry.RequestRecord.Of(context) is { } record)
        {
            record.ErrorType = code ?? ErrorBodies.AnthropicType(status);
            if (record.Cache is { } cache)
            {
                // Every answer to a request its group caches says what the cache did.
                response.Headers[Caching.ResponseCache.Header] = cache;
            }
        }

        var body = ClientProtocols.Of(context.Request) == WireProtocol.OpenAI
            ? ErrorBodies.OpenAI(ErrorBodies.OpenAIType(status), message, code)
            : ErrorBodies.Anthropic(ErrorBodies.AnthropicType(status), message, requestId);
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
