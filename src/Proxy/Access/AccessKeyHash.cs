using System.Security.Cryptography;
using System.Text;

namespace CcxProxy.Access;

/// <summary>The one way keys are hashed, so no part of the gateway holds a key in the clear for long.</summary>
public static class AccessKeyHash
{
    /// <summary>SHA-256 of the key's UTF-8 bytes.</summary>
    public static byte[] Compute(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>A short, non-secret id for a key hash: its first 8 hex characters.</summary>
    public static string Id(ReadOnlySpan<byte> hash) => Convert.ToHexStringLower(hash[..4]);
}
