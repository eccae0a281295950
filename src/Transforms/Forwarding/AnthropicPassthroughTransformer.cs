using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// Forwards a Messages API request to an Anthropic-protocol channel: the caller's credentials are
/// replaced by the channel's, the body is the already-mapped one, and the response is relayed with
/// the client's model name restored (<see cref="AnthropicResponseRelay"/>).
/// One instance per attempt.
/// </summary>
public sealed class AnthropicPassthroughTransformer : HttpTransformer
{
    /// <summary>Sent when the client did not say which API version it speaks.</summary>
    public const string DefaultAnthropicVersion = "2023-06-01";

    // The caller's credentials and cookies must never reach the upstream; Accept-Encoding is dropped so
    // the upstream answers uncompressed and the relay can read the events it forwards.
    private static readonly string[] s_removedRequestHeaders =
        ["x-api-key", "authorization", "proxy-authorization", "cookie", "accept-encoding"];

    private readonly UpstreamCall _call;
    private readonly UpstreamAttempt _attempt;

    /// <summary>Creates the transformer for one attempt.</summary>
    public AnthropicPassthroughTransformer(UpstreamCall call, UpstreamAttempt attempt)
    {
        _call = call;
        _attempt = attempt;
    }

    /// <inheritdoc />
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, _call.UpstreamPath, httpContext.Request.QueryString);
        UpstreamHeaders.Apply(proxyRequest, _call, s_removedRequestHeaders);
        if (!proxyRequest.Headers.Contains("anthropic-version"))
        {
            proxyRequest.Headers.TryAddWithoutValidation("anthropic-version", DefaultAnthropicVersion);
        }

        var content = new ReadOnlyMemoryContent(_call.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        proxyRequest.Content = content;
    }

    /// <inheritdoc />
    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        if (proxyResponse is null)
        {
            // The forwarder failed before any response; the host renders that error.
            return false;
        }

        _attempt.ResponseHeadersReceived((int)proxyResponse.StatusCode);
        await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken).ConfigureAwait(false);
        await AnthropicResponseRelay.RelayAsync(httpContext, proxyResponse, _call, _attempt, cancellationToken).ConfigureAwait(false);

        // The body has been written by the relay; the forwarder must not copy it again.
        return false;
    }
}
