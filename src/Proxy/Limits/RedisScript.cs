using System.Security.Cryptography;
using System.Text;
using StackExchange.Redis;

namespace CcxProxy.Limits;

/// <summary>
/// A Lua script run by its SHA-1 (<c>EVALSHA</c>), sent in full (<c>EVAL</c>, which also caches it in the
/// server) only when the server answers <c>NOSCRIPT</c>: after a restart, a failover, or the first call.
/// </summary>
internal sealed class RedisScript
{
    /// <summary>Prepares a script; nothing is sent until the first call.</summary>
    public RedisScript(string name, string text)
    {
        Name = name;
        Text = text;
#pragma warning disable CA5350 // SHA-1 is how Redis names scripts (EVALSHA), not a security measure.
        Sha1 = SHA1.HashData(Encoding.UTF8.GetBytes(text));
#pragma warning restore CA5350
    }

    /// <summary>A short name for logs and tests.</summary>
    public string Name { get; }

    /// <summary>The Lua source.</summary>
    public string Text { get; }

    /// <summary>The script's SHA-1, as Redis computes it.</summary>
    public byte[] Sha1 { get; }

    /// <summary>Runs the script.</summary>
    public async Task<RedisResult> EvaluateAsync(IDatabaseAsync database, RedisKey[] keys, RedisValue[] values)
    {
        try
        {
            return await database.ScriptEvaluateAsync(Sha1, keys, values).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            return await database.ScriptEvaluateAsync(Text, keys, values).ConfigureAwait(false);
        }
    }
}
