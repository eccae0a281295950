using System.Security.Cryptography;

namespace CcxProxy.Access;

/// <summary>
/// The keys listed in <c>PROXY_ACCESS_KEY</c> (one, or several separated by commas), all in group
/// <c>default</c>. Only their hashes are kept; a lookup compares against every hash in constant time.
/// </summary>
internal sealed class EnvironmentAccessKeyStore : IAccessKeyStore
{
    /// <summary>The configuration key (an environment variable of the same name).</summary>
    public const string ConfigurationKey = "PROXY_ACCESS_KEY";

    /// <summary>The group of keys from <c>PROXY_ACCESS_KEY</c>.</summary>
    public const string DefaultGroup = "default";

    private readonly byte[][] _hashes;

    public EnvironmentAccessKeyStore(IConfiguration configuration)
    {
        var raw = configuration[ConfigurationKey] ?? "";
        _hashes = raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(AccessKeyHash.Compute)
            .ToArray();
    }

    public int Count => _hashes.Length;

    public ValueTask<Caller?> FindAsync(ReadOnlyMemory<byte> keyHash, CancellationToken cancellationToken)
    {
        // Compare with every key, without stopping at a match, so timing says nothing about which matched.
        var found = false;
        foreach (var hash in _hashes)
        {
            found |= CryptographicOperations.FixedTimeEquals(hash, keyHash.Span);
        }

        return ValueTask.FromResult(found
            ? new Caller(DefaultGroup, AccessKeyHash.Id(keyHash.Span), Keys.CallerLimits.None) { KeyHash = Convert.ToHexStringLower(keyHash.Span) }
            : null);
    }
}
