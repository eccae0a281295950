namespace CcxProxy.Access;

/// <summary>An authenticated caller.</summary>
/// <param name="Group">The group the key belongs to; it decides which channels the caller may use.</param>
/// <param name="KeyId">A non-secret identifier of the key (a prefix of its hash) for logs and status.</param>
public sealed record Caller(string Group, string KeyId);
