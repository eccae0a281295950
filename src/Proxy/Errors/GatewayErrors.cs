using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Errors;

/// <summary>
/// The one place the gateway writes its own error responses, in the caller's protocol (PROTOCOLS.md §5),
/// with the headers clients act on.
/// </summary>
public static class GatewayErrors
{
    /// <summary>Writes an error unless the response has already started (then there is nothing to do).</summary>
    public static Task WriteAsync(HttpContext context, int status, string message, string? code = null)
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

        var body = ClientProtocols.Of(context.Request) == ClientProtocol.OpenAI
            ? ErrorBodies.OpenAI(ErrorBodies.OpenAIType(status), message, code)
            : ErrorBodies.Anthropic(ErrorBodies.AnthropicType(status), message, requestId);
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
