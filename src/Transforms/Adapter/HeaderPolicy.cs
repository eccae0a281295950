using System.Net.Http.Headers;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Transforms.Adapter;

/// <summary>
/// What crosses the gateway in headers, in either direction: an allowlist per protocol, never a denylist
/// (docs/security.md). Everything else the caller sent stays at the gateway (its key, cookies, <c>Host</c>,
/// <c>X-Forwarded-*</c>, <c>OpenAI-Organization</c>, trace context), and everything else the upstream answered
/// stays at the gateway too (<c>Set-Cookie</c>, <c>Server</c>, <c>WWW-Authenticate</c>, <c>Location</c>, the
/// upstream's organisation ids and rate-limit headers, <c>ETag</c> and friends that describe a body the client
/// may never get).
/// </summary>
public static class HeaderPolicy
{
    /// <summary>The upstream's own request id, relayed under this name so it never collides with the gateway's <c>x-request-id</c>.</summary>
    public const string UpstreamRequestIdHeader = "x-upstream-request-id";

    // Content negotiation and client identification: what any API lets a client say about itself.
    // Accept-Encoding is not among them: the upstream must answer uncompressed so the relay can read it.
    private static readonly HashSet<string> s_requestCommon = new(StringComparer.OrdinalIgnoreCase) { "accept", "user-agent", "x-app" };

    // The Anthropic SDKs and Claude Code (anthropic-dangerous-direct-browser-access is how a browser client opts in).
    private static readonly HashSet<string> s_requestAnthropic = new(StringComparer.OrdinalIgnoreCase)
    {
        "anthropic-version", "anthropic-beta", "anthropic-dangerous-direct-browser-access", "x-claude-code-session-id",
    };

    // OpenAI-Organization and OpenAI-Project are deliberately absent: they would bill the caller's choice of
    // organisation on the channel's key. A channel that needs one sets it in its own "headers".
    private static readonly HashSet<string> s_requestOpenAI = new(StringComparer.OrdinalIgnoreCase) { "openai-beta" };

    // Google's SDKs name themselves here (as Stainless SDKs do in x-stainless-*); the key header never goes.
    private static readonly HashSet<string> s_requestGemini = new(StringComparer.OrdinalIgnoreCase) { "x-goog-api-client" };

    // The Stainless-generated SDKs (Anthropic's and OpenAI's) describe themselves with x-stainless-*.
    private const string StainlessPrefix = "x-stainless-";

    // retry-after and x-should-retry are what SDKs act on when an upstream error is relayed.
    private static readonly string[] s_responseCommon = ["retry-after", "retry-after-ms", "x-should-retry"];

    /// <summary>True when the caller's request header <paramref name="name"/> may go to an upstream speaking <paramref name="upstream"/>.</summary>
    public static bool ForwardsRequestHeader(string name, WireProtocol upstream) =>
        s_requestCommon.Contains(name)
        || name.StartsWith(StainlessPrefix, StringComparison.OrdinalIgnoreCase)
        || RequestAllowlist(upstream).Contains(name);

    private static HashSet<string> RequestAllowlist(WireProtocol upstream) => upstream switch
    {
        WireProtocol.Anthropic => s_requestAnthropic,
        WireProtocol.Gemini => s_requestGemini,
        _ => s_requestOpenAI,
    };

    // Of the forwarded headers, those that change what the upstream answers (a beta feature, an API version):
    // part of the response cache's key. The rest (user-agent, x-stainless-*, session ids) describe the client only.
    private static readonly string[] s_answerShapingAnthropic = ["anthropic-beta", "anthropic-version"];
    private static readonly string[] s_answerShapingOpenAI = ["openai-beta"];

    /// <summary>
    /// The forwarded caller headers that can change the upstream's answer to the same body, for an upstream speaking
    /// <paramref name="upstream"/>: the response cache keys on them. A header added to the allowlist above that can
    /// change an answer belongs here too.
    /// </summary>
    public static IReadOnlyList<string> AnswerShapingRequestHeaders(WireProtocol upstream) => upstream switch
    {
        WireProtocol.Anthropic => s_answerShapingAnthropic,
        WireProtocol.Gemini => [],
        _ => s_answerShapingOpenAI,
    };

    /// <summary>Copies the allowed caller headers onto the upstream request; nothing else of the caller's is sent.</summary>
    public static void CopyRequestHeaders(IHeaderDictionary from, HttpRequestHeaders to, WireProtocol upstream)
    {
        foreach (var (name, values) in from)
        {
            if (ForwardsRequestHeader(name, upstream))
            {
                to.TryAddWithoutValidation(name, (IEnumerable<string>)values);
            }
        }
    }

    /// <summary>
    /// Copies the allowed upstream response headers onto the client's response: the retry hints, the upstream's
    /// request id (as <see cref="UpstreamRequestIdHeader"/>, and as Anthropic's own <c>request-id</c> when both
    /// sides speak Anthropic, where the SDKs surface it). Nothing else is copied, so the gateway's own
    /// <c>x-request-id</c> and per-caller rate-limit headers are never overwritten.
    /// </summary>
    public static void CopyResponseHeaders(HttpResponseMessage from, IHeaderDictionary to, WireProtocol client, WireProtocol upstream)
    {
        foreach (var name in s_responseCommon)
        {
            if (from.Headers.TryGetValues(name, out var values) && values.FirstOrDefault() is { } value && IsPlainValue(value))
            {
                to[name] = value;
            }
        }

        var idHeader = upstream == WireProtocol.Anthropic ? "request-id" : "x-request-id";
        if (from.Headers.TryGetValues(idHeader, out var ids) && ids.FirstOrDefault() is { Length: > 0 } id && IsPlainValue(id))
        {
            to[UpstreamRequestIdHeader] = id;
            if (client == WireProtocol.Anthropic && upstream == WireProtocol.Anthropic)
            {
                to["request-id"] = id;
            }
        }
    }

    // Printable ASCII only: Kestrel refuses anything else in a response header, and nothing meaningful here needs more.
    private static bool IsPlainValue(string value)
    {
        foreach (var c in value)
        {
            if (c is < ' ' or > '~')
            {
                return false;
            }
        }

        return value.Length <= 200;
    }
}
