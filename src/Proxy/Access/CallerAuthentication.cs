using CcxProxy.Errors;

namespace CcxProxy.Access;

/// <summary>
/// Reads the caller's key from <c>x-api-key</c> or <c>Authorization: Bearer</c> (Claude Code sends the
/// latter when <c>ANTHROPIC_AUTH_TOKEN</c> is set, the OpenAI SDKs always do) and finds the caller.
/// </summary>
public sealed class CallerAuthentication
{
    private readonly IAccessKeyStore _store;

    /// <summary>Creates the authenticator over a key store.</summary>
    public CallerAuthentication(IAccessKeyStore store) => _store = store;

    /// <summary>
    /// The caller, or null after writing a 401 in the caller's protocol.
    /// </summary>
    public async ValueTask<Caller?> AuthenticateAsync(HttpContext context)
    {
        var key = ReadKey(context.Request);
        if (key is null)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status401Unauthorized,
                "missing API key: send it as x-api-key or as Authorization: Bearer").ConfigureAwait(false);
            return null;
        }

        var caller = await _store.FindAsync(AccessKeyHash.Compute(key), context.RequestAborted).ConfigureAwait(false);
        if (caller is null)
        {
            await GatewayErrors.WriteAsync(context, StatusCodes.Status401Unauthorized, "invalid API key").ConfigureAwait(false);
        }

        return caller;
    }

    internal static string? ReadKey(HttpRequest request)
    {
        var apiKey = request.Headers["x-api-key"].ToString();
        if (apiKey.Length > 0)
        {
            return apiKey.Trim();
        }

        var authorization = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
        {
            var token = authorization[Bearer.Length..].Trim();
            return token.Length > 0 ? token : null;
        }

        return null;
    }
}
