namespace CcxProxy.Keys;

/// <summary>What a presented key turned out to be.</summary>
internal enum KeyLookupStatus
{
    /// <summary>A usable key; <see cref="KeyLookup.Record"/> is set.</summary>
    Found,

    /// <summary>No such key.</summary>
    Unknown,

    /// <summary>The key exists but was revoked.</summary>
    Revoked,

    /// <summary>The key exists but its expiry has passed.</summary>
    Expired,
}

/// <summary>The answer of <see cref="KeyDirectory.LookupAsync"/>.</summary>
/// <param name="Status">What the key is.</param>
/// <param name="Record">The record (for every status but <see cref="KeyLookupStatus.Unknown"/>), so a refusal can name the key's id in logs.</param>
internal sealed record KeyLookup(KeyLookupStatus Status, KeyRecord? Record)
{
    /// <summary>No such key.</summary>
    public static KeyLookup Unknown { get; } = new(KeyLookupStatus.Unknown, null);

    /// <summary>True for <see cref="KeyLookupStatus.Found"/>.</summary>
    public bool IsFound => Status == KeyLookupStatus.Found;

    /// <summary>A usable key.</summary>
    public static KeyLookup Found(KeyRecord record) => new(KeyLookupStatus.Found, record);

    /// <summary>A revoked key.</summary>
    public static KeyLookup Revoked(KeyRecord record) => new(KeyLookupStatus.Revoked, record);

    /// <summary>An expired key.</summary>
    public static KeyLookup Expired(KeyRecord record) => new(KeyLookupStatus.Expired, record);
}
