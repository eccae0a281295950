using CcxProxy.Errors;
using CcxProxy.Keys;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Access;

/// <summary>
/// Reads the caller's key from <c>x-api-key</c>, <c>x-goog-api-key</c> (Google's SDKs and the Gemini CLI) or
/// <c>Authorization: Bearer</c> (Claude Code sends the latter when <c>ANTHROPIC_AUTH_TOKEN</c> is set, the OpenAI SDKs
/// always do), or on Gemini's paths from the <c>key</c> query parameter, and finds the caller: 401 for a missing,
/// unknown, revoked or expired key; 429 for an address that keeps failing. A key given in the query is read here and
/// nowhere else: no upstream gets the caller's query, and the logs and traces never carry it.
/// </summary>
public sealed class CallerAuthentication
{
    private readonly KeyDirectory _keys;
    private readonly FailedAuthThrottle _throttle;

    internal CallerAuthentication(KeyDirectory keys, FailedAuthThrottle throttle)
    {
        _keys = keys;
        _throttle = throttle;
    }

    /// <summary>The caller, or the refusal to answer with.</summary>
    public async ValueTask<GatewayResult<Caller>> AuthenticateAsync(HttpContext context)
    {
        var address = context.Connection.RemoteIpAddress;
        var key = ReadKey(context.Request);
        if (_throttle.RetryAfter(address) is { } wait && (key is null || !_throttle.IsKnownGood(address, AccessKeyHash.Compute(key))))
        {
            return Throttled(wait);
        }

        if (key is null)
        {
            _throttle.Failed(address);
            return new GatewayError(StatusCodes.Status401Unauthorized, "missing API key: send it as x-api-key, x-goog-api-key or Authorization: Bearer");
        }

        KeyLookup lookup;
        try
        {
            lookup = await _keys.LookupAsync(key, context.RequestAborted).ConfigureAwait(false);
        }
        catch (KeyStoreUnavailableException)
        {
            return new GatewayError(StatusCodes.Status503ServiceUnavailable, "the key store is unavailable; try again shortly");
        }

        if (lookup is { Status: KeyLookupStatus.Found, Record: { } record })
        {
            // The record holds the key's SHA-256 already: no second hash on every authenticated request.
            Span<byte> hash = stackalloc byte[32];
            if (Convert.FromHexString(record.Hash, hash, out _, out var written) == System.Buffers.OperationStatus.Done && written == hash.Length)
            {
                _throttle.Succeeded(address, hash);
            }

            return new Caller(record.Group, record.Id, record.Limits) { KeyHash = record.Hash };
        }

        _throttle.Failed(address);
        var message = lookup.Status switch
        {
            KeyLookupStatus.Revoked => "this API key has been revoked",
            KeyLookupStatus.Expired => "this API key has expired",
            _ => "invalid API key",
        };
        return new GatewayError(StatusCodes.Status401Unauthorized, message);
    }

    /// <summary>The 429 for an address that keeps failing.</summary>
    internal static GatewayError Throttled(TimeSpan wait) =>
        new(StatusCodes.Status429TooManyRequests, "too many failed authentication attempts from this address; try again later") { RetryAfter = wait };

    internal static string? ReadKey(HttpRequest request)
    {
        foreach (var header in (ReadOnlySpan<string>)["x-api-key", "x-goog-api-key"])
        {
            var apiKey = request.Headers[header].ToString();
            if (apiKey.Length > 0)
            {
                return apiKey.Trim();
            }
        }

        var authorization = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization[Bearer.Length..].Trim();
            return token.Length > 0 ? token : null;
        }

        // Google's API (and so its SDKs, with an API key) also takes the key as ?key=; only Gemini's paths read it.
        return ClientProtocols.Of(request) == WireProtocol.Gemini && request.Query["key"].ToString().Trim() is { Length: > 0 } queryKey ? queryKey : null;
    }
}
