using System.Security.Cryptography;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Access;

/// <summary>
/// The operators' key (<c>Admin:AccessKey</c>, env <c>Admin__AccessKey</c>) for the ops surfaces: <c>/status</c>
/// and <c>/admin/*</c>. Kept only as its hash, compared in constant time, and failed attempts count against the
/// same per-address throttle as caller keys. Without the setting those surfaces answer 404, as if absent.
/// </summary>
public sealed class AdminAuthentication
{
    private readonly byte[]? _hash;
    private readonly FailedAuthThrottle _throttle;

    internal AdminAuthentication(string? adminKey, FailedAuthThrottle throttle)
    {
        _hash = string.IsNullOrEmpty(adminKey) ? null : AccessKeyHash.Compute(adminKey);
        _throttle = throttle;
    }

    /// <summary>Null when the request carries the admin key; otherwise the refusal (404, 429 or 401).</summary>
    public GatewayError? Authenticate(HttpContext context)
    {
        if (_hash is null)
        {
            return new GatewayError(StatusCodes.Status404NotFound, "no such endpoint: the ops endpoints are off (set Admin:AccessKey)");
        }

        var address = context.Connection.RemoteIpAddress;
        var presented = CallerAuthentication.ReadKey(context.Request);
        var hash = presented is null ? null : AccessKeyHash.Compute(presented);
        if (_throttle.RetryAfter(address) is { } wait && (hash is null || !_throttle.IsKnownGood(address, hash)))
        {
            return CallerAuthentication.Throttled(wait);
        }

        if (hash is null || !CryptographicOperations.FixedTimeEquals(hash, _hash))
        {
            _throttle.Failed(address);
            return new GatewayError(StatusCodes.Status401Unauthorized, "this endpoint needs the admin key (Admin:AccessKey)");
        }

        _throttle.Succeeded(address, hash);
        return null;
    }
}
