namespace CcxProxy.Keys;

/// <summary>How a token quota renews.</summary>
public enum QuotaPeriod
{
    /// <summary>Never: a total allowance.</summary>
    Total,

    /// <summary>Every UTC day.</summary>
    Day,

    /// <summary>Every UTC calendar month.</summary>
    Month,
}

/// <summary>A token allowance (input + output tokens, cache reads and writes included).</summary>
/// <param name="Tokens">Tokens allowed per period.</param>
/// <param name="Period">How the allowance renews.</param>
public sealed record TokenQuota(long Tokens, QuotaPeriod Period);

/// <summary>Limits on one key or one group; null fields are not limited.</summary>
public sealed record CallerLimits
{
    /// <summary>No limit at all.</summary>
    public static CallerLimits None { get; } = new();

    /// <summary>Requests per minute.</summary>
    public int? RequestsPerMinute { get; init; }

    /// <summary>Input tokens per minute (prompt, cache reads and writes included).</summary>
    public long? InputTokensPerMinute { get; init; }

    /// <summary>Output tokens per minute.</summary>
    public long? OutputTokensPerMinute { get; init; }

    /// <summary>Requests in flight at once; a stream holds its slot until it ends.</summary>
    public int? Concurrency { get; init; }

    /// <summary>A token allowance.</summary>
    public TokenQuota? Quota { get; init; }

    /// <summary>True when nothing is limited.</summary>
    public bool IsEmpty => RequestsPerMinute is null && InputTokensPerMinute is null && OutputTokensPerMinute is null && Concurrency is null && Quota is null;
}

/// <summary>
/// A caller key as stored: never the key itself, only its SHA-256 (<see cref="Hash"/>), a short public
/// <see cref="Id"/> derived from that hash, and the key's first characters (<see cref="Prefix"/>) so an
/// operator can recognise it in a list.
/// </summary>
public sealed record KeyRecord
{
    /// <summary>Lower-case hex SHA-256 of the key: the lookup key.</summary>
    public required string Hash { get; init; }

    /// <summary>The first 12 hex characters of <see cref="Hash"/>: how operators and logs name the key.</summary>
    public string Id => Hash[..12];

    /// <summary>The key's first 8 characters (e.g. <c>ccx-3f9a</c>), safe to show.</summary>
    public required string Prefix { get; init; }

    /// <summary>The caller group; it decides which channels and models the key may use.</summary>
    public required string Group { get; init; }

    /// <summary>A free-form label (who or what the key is for).</summary>
    public string Label { get; init; } = "";

    /// <summary>When the key was created.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>After this instant the key is refused; null: never expires.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>False once revoked.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Limits for this key alone (the group's limits apply too).</summary>
    public CallerLimits Limits { get; init; } = CallerLimits.None;
}

/// <summary>
/// Where caller keys are kept: Redis when configured (shared by every replica), in memory otherwise.
/// Implementations store records under the key's hash only.
/// </summary>
public interface IKeyStore
{
    /// <summary>Stores a new key; false when a key with the same hash exists.</summary>
    Task<bool> CreateAsync(KeyRecord record, CancellationToken cancellationToken);

    /// <summary>The record for a hash, or null.</summary>
    Task<KeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken);

    /// <summary>The record whose <see cref="KeyRecord.Id"/> (or a unique prefix of its hash, at least 6 characters) is <paramref name="id"/>, or null.</summary>
    Task<KeyRecord?> FindByIdAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every record, oldest first.</summary>
    Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Replaces a stored record (revoke, new limits); false when it does not exist.</summary>
    Task<bool> UpdateAsync(KeyRecord record, CancellationToken cancellationToken);
}
