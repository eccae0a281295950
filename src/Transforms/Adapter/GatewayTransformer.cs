using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Transforms.Adapter;

/// <summary>
/// The YARP transformer for one upstream attempt, whatever the two protocols: the request goes to the
/// upstream's path with the already-converted body and the channel's credentials (never the caller's);
/// the response is relayed by <see cref="ResponseRelay"/> through the call's <see cref="ResponsePlan"/>.
/// </summary>
public sealed class GatewayTransformer : HttpTransformer
{
    /// <summary>Sent to Anthropic upstreams when the client did not say which API version it speaks.</summary>
    public const string DefaultAnthropicVersion = "2023-06-01";

    private readonly UpstreamCall _call;
    private readonly UpstreamAttempt _attempt;

    /// <summary>Creates the transformer for one attempt.</summary>
    public GatewayTransformer(UpstreamCall call, UpstreamAttempt attempt)
    {
        _call = call;
        _attempt = attempt;
    }

    /// <inheritdoc />
    public override ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        // The base transformer is not called: it copies every caller header, Host included, and .NET then
        // presents the caller's Host for SNI and certificate checks, with the channel's key, to whatever
        // answers at the upstream's address. Only the allowlist goes; Host comes from the destination URL.
        // A path may carry its own query (Gemini's alt=sse); the caller's is kept only where the route says so.
        var (path, query) = _call.UpstreamPath.IndexOf('?', StringComparison.Ordinal) is var mark and >= 0
            ? (_call.UpstreamPath[..mark], new QueryString(_call.UpstreamPath[mark..]))
            : (_call.UpstreamPath, _call.KeepQuery ? httpContext.Request.QueryString : QueryString.Empty);
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, path, query);
        var headers = proxyRequest.Headers;
        headers.Host = null;
        HeaderPolicy.CopyRequestHeaders(httpContext.Request.Headers, headers, _call.UpstreamProtocol);

        switch (_call.Auth)
        {
            case UpstreamAuth.Bearer:
                headers.TryAddWithoutValidation("Authorization", "Bearer " + _call.UpstreamKey);
                break;
            case UpstreamAuth.GoogApiKey:
                headers.TryAddWithoutValidation("x-goog-api-key", _call.UpstreamKey);
                break;
            default:
                headers.TryAddWithoutValidation("x-api-key", _call.UpstreamKey);
                break;
        }

        if (_call.UpstreamProtocol == WireProtocol.Anthropic && !headers.Contains("anthropic-version"))
        {
            headers.TryAddWithoutValidation("anthropic-version", DefaultAnthropicVersion);
        }

        foreach (var (name, value) in _call.Headers)
        {
            headers.Remove(name);
            headers.TryAddWithoutValidation(name, value);
        }

        SetBody(httpContext.Request, proxyRequest, _call.Body);
        return default;
    }

    /// <summary>
    /// Gives the forwarder the converted body. Since YARP 2.2 a transformer may not replace the outgoing
    /// <see cref="HttpContent"/>: YARP streams it from <c>HttpContext.Request.Body</c> when it sends, so the body
    /// goes there (a read-only stream over the same bytes: no copy), and the content headers YARP already made
    /// are corrected to the new length and type. Runs again for every attempt, so each starts at the first byte.
    /// </summary>
    private static void SetBody(HttpRequest request, HttpRequestMessage proxyRequest, ReadOnlyMemory<byte> body)
    {
        request.Body = MemoryMarshal.TryGetArray(body, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(body.ToArray(), writable: false);
        request.ContentLength = body.Length;
        request.Headers.TransferEncoding = default;
        if (proxyRequest.Content is { } content)
        {
            content.Headers.Clear();
            content.Headers.ContentLength = body.Length;
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
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
        // Not the base transformer, which copies every upstream header: only the allowlist reaches the client,
        // and the upstream's reason phrase (its own text) is replaced by the standard one.
        httpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>()!.ReasonPhrase = null;
        HeaderPolicy.CopyResponseHeaders(proxyResponse, httpContext.Response.Headers, _call.WireProtocol, _call.UpstreamProtocol);
        await ResponseRelay.RelayAsync(httpContext, proxyResponse, _call, _attempt, cancellationToken).ConfigureAwait(false);

        // The relay wrote the body; the forwarder must not copy it again.
        return false;
    }
}
