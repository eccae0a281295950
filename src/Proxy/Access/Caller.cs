using CcxProxy.Keys;

namespace CcxProxy.Access;

/// <summary>An authenticated caller.</summary>
/// <param name="Group">The group the key belongs to; it decides which channels and models the caller may use.</param>
/// <param name="KeyId">A non-secret identifier of the key (the start of its hash) for logs, limits and status.</param>
/// <param name="Limits">The key's own limits (the group's apply too).</param>
public sealed record Caller(string Group, string KeyId, CallerLimits Limits)
{
    /// <summary>
    /// The key's whole SHA-256 (hex), for what must be the caller's alone (kept OpenAI Responses answers): unlike
    /// <see cref="KeyId"/>, no two keys share it. Empty when the caller was made without one (tests).
    /// </summary>
    public string KeyHash { get; init; } = string.Empty;
}
