using System.Globalization;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Transforms.Adapter;

/// <summary>
/// The one writer of error answers: the gateway's own (<see cref="GatewayError"/>), rendered in the caller's
/// protocol, and an upstream's error already mapped to the caller's shape. Both get the same header rules.
/// The caller of this writer decides what else the response keeps (it does not clear it).
/// </summary>
public static class ErrorResponse
{
    /// <summary>Writes <paramref name="error"/> in <paramref name="protocol"/>'s shape, unless the response has started.</summary>
    /// <param name="response">The response, not yet started.</param>
    /// <param name="protocol">The caller's protocol.</param>
    /// <param name="error">The error.</param>
    /// <param name="requestId">The gateway's request id, named in Anthropic's shape.</param>
    /// <param name="cancellationToken">The client's token.</param>
    public static Task WriteAsync(HttpResponse response, WireProtocol protocol, GatewayError error, string? requestId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(error);
        if (response.HasStarted)
        {
            return Task.CompletedTask;
        }

        foreach (var (name, value) in error.Headers)
        {
            response.Headers[name] = value;
        }

        if (error.RetryAfter is { } wait)
        {
            response.Headers.RetryAfter = Math.Max(1, Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        var body = ErrorBodies.For(protocol, error.Status, error.Message, requestId, error.Code);
        return WriteAsync(response, error.Status, error.ShouldRetry, body, cancellationToken);
    }

    /// <summary>Writes an upstream's error body, already in the caller's shape, under <paramref name="status"/>.</summary>
    public static Task RelayAsync(HttpResponse response, int status, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        return WriteAsync(response, status, GatewayError.RetryHelps(status), body, cancellationToken);
    }

    private static Task WriteAsync(HttpResponse response, int status, bool shouldRetry, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        response.StatusCode = status;
        if (!shouldRetry)
        {
            response.Headers["x-should-retry"] = "false";
        }

        if (status == StatusCodes.Status401Unauthorized)
        {
            response.Headers.WWWAuthenticate = "Bearer realm=\"ccx-proxy\"";
        }

        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, cancellationToken).AsTask();
    }
}
