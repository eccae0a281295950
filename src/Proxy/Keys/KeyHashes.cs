using System.Security.Cryptography;
using CcxProxy.Access;

namespace CcxProxy.Keys;

/// <summary>
/// How caller keys are made, hashed and named. The key itself exists only in the creating process
/// and in the caller's hands; everything stored or shown is derived from its SHA-256.
/// </summary>
internal static class KeyHashes
{
    /// <summary>Every generated key starts with this.</summary>
    public const string KeyPrefix = "ccx-";

    /// <summary>Random characters after <see cref="KeyPrefix"/>: 40 base62 characters, about 238 bits.</summary>
    public const int RandomLength = 40;

    /// <summary>Characters of the key kept in <see cref="KeyRecord.Prefix"/>.</summary>
    public const int PrefixLength = 8;

    /// <summary>The shortest hash prefix accepted as an id.</summary>
    public const int MinimumIdLength = 6;

    private const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>A new key: <c>ccx-</c> and 40 base62 characters from the system CSPRNG.</summary>
    public static string NewKey() => KeyPrefix + RandomNumberGenerator.GetString(Base62, RandomLength);

    /// <summary>Lower-case hex SHA-256 of the key (what the stores are keyed by).</summary>
    public static string Hex(string key) => Convert.ToHexStringLower(AccessKeyHash.Compute(key));

    /// <summary>The part of a key that is safe to show.</summary>
    public static string PrefixOf(string key) => key.Length <= PrefixLength ? "" : key[..PrefixLength];

    /// <summary>True for a 64-character lower-case hex string.</summary>
    public static bool IsHash(string? value) => value is { Length: 64 } && IsLowerHex(value);

    /// <summary>
    /// Normalises an operator-typed id (the 12-character <see cref="KeyRecord.Id"/>, or any hash prefix of at
    /// least <see cref="MinimumIdLength"/> hex characters) to lower case; false when it cannot be one.
    /// </summary>
    public static bool TryNormalizeId(string? id, out string normalized)
    {
        normalized = (id ?? "").Trim().ToLowerInvariant();
        return normalized.Length is >= MinimumIdLength and <= 64 && IsLowerHex(normalized);
    }

    /// <summary>
    /// The single hash starting with <paramref name="normalizedId"/>, or null when none or several do.
    /// </summary>
    public static string? FindUnique(IEnumerable<string> hashes, string normalizedId)
    {
        string? match = null;
        foreach (var hash in hashes)
        {
            if (hash.StartsWith(normalizedId, StringComparison.Ordinal))
            {
                if (match is not null)
                {
                    return null;
                }

                match = hash;
            }
        }

        return match;
    }

    /// <summary>Throws when a record cannot be stored (its hash is not a SHA-256 hex string).</summary>
    public static void Validate(KeyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!IsHash(record.Hash))
        {
            throw new ArgumentException("KeyRecord.Hash must be a lower-case hex SHA-256 (64 characters).", nameof(record));
        }
    }

    private static bool IsLowerHex(string value)
    {
        foreach (var c in value)
        {
            if (c is not ((>= '0' and <= '9') or (>= 'a' and <= 'f')))
            {
                return false;
            }
        }

        return true;
    }
}
