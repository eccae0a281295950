using System.Net.Http.Headers;
using CcxProxy.Transforms.Protocols;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// The YARP transformer for one upstream attempt, whatever the two protocols: the request goes to the
/// upstream's path with the already-converted body and the channel's credentials (never the caller's);
/// the response is relayed by <see cref="ResponseRelay"/> through the call's <see cref="ResponsePlan"/>.
/// </summary>
public sealed class GatewayTransformer : HttpTransformer
{
    /// <summary>Sent to Anthropic upstreams when the client did not say which API version it speaks.</summary>
    public const string DefaultAnthropicVersion = "2023-06-01";

    // The caller's credentials and cookies never reach the upstream; Accept-Encoding is dropped so the
    // upstream answers uncompressed and the relay can read what it converts.
    private static readonly string[] s_alwaysRemoved =
        ["x-api-key", "authorization", "proxy-authorization", "cookie", "accept-encoding"];

    // Protocol headers that would confuse (or be rejected by) an upstream of the other protocol.
    private static readonly string[] s_anthropicOnly = ["anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access"];
    private static readonly string[] s_openAIOnly = ["openai-organization", "openai-project", "openai-beta"];

    private static readonly string[] s_traceContext = ["traceparent", "tracestate", "baggage", "request-id", "correlation-context"];

    private readonly UpstreamCall _call;
    private readonly UpstreamAttempt _attempt;

    /// <summary>Creates the transformer for one attempt.</summary>
    public GatewayTransformer(UpstreamCall call, UpstreamAttempt attempt)
    {
        _call = call;
        _attempt = attempt;
    }

    /// <inheritdoc />
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
        var query = _call.KeepQuery ? httpContext.Request.QueryString : QueryString.Empty;
        proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, _call.UpstreamPath, query);

        var headers = proxyRequest.Headers;
        foreach (var name in s_alwaysRemoved.Concat(_call.UpstreamProtocol == WireProtocol.Anthropic ? s_openAIOnly : s_anthropicOnly))
        {
            headers.Remove(name);
        }

        // The caller's trace context is its own business. The gateway's own is added by the HTTP client,
        // for channels that allow it, only while tracing is on.
        foreach (var name in s_traceContext)
        {
            headers.Remove(name);
        }

        if (_call.Auth == UpstreamAuth.Bearer)
        {
            headers.TryAddWithoutValidation("Authorization", "Bearer " + _call.UpstreamKey);
        }
        else
        {
            headers.TryAddWithoutValidation("x-api-key", _call.UpstreamKey);
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
        await ResponseRelay.RelayAsync(httpContext, proxyResponse, _call, _attempt, cancellationToken).ConfigureAwait(false);

        // The relay wrote the body; the forwarder must not copy it again.
        return false;
    }
}
