using System.Security.Cryptography;
using System.Text;

namespace CcxProxy.Channels;

/// <summary>A secret upstream key. <see cref="ToString"/> never reveals it.</summary>
public sealed class UpstreamKey
{
    /// <summary>Wraps a secret key value.</summary>
    /// <param name="value">The secret; must not be empty.</param>
    public UpstreamKey(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        Value = value;
        Fingerprint = ComputeFingerprint(value);
    }

    /// <summary>The secret. Never log or print it.</summary>
    public string Value { get; }

    /// <summary>First 8 lowercase hex chars of SHA-256(<see cref="Value"/>): safe to show on a status page.</summary>
    public string Fingerprint { get; }

    /// <summary>Returns <c>key:FINGERPRINT</c>, never the secret.</summary>
    public override string ToString() => $"key:{Fingerprint}";

    /// <summary>The fingerprint of <paramref name="value"/> without wrapping it.</summary>
    internal static string ComputeFingerprint(string value)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(value), hash);
        return Convert.ToHexStringLower(hash[..4]);
    }
}
