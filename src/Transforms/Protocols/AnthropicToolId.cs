using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// Anthropic accepts tool-call ids matching <c>^[a-zA-Z0-9_-]+$</c> only; other providers send ids such as
/// Kimi's <c>functions.Bash:0</c> (docs/protocols.md §8 #8). One function makes any id valid, for every direction of
/// conversion, so that a <c>tool_use.id</c> and the <c>tool_result.tool_use_id</c> answering it stay paired.
/// </summary>
public static class AnthropicToolId
{
    /// <summary>The id an empty one becomes: it cannot pair with anything, but it keeps the request valid.</summary>
    public const string Empty = "toolu_empty";

    private static readonly SearchValues<char> s_idChars = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-");

    /// <summary>
    /// Deterministic and idempotent: a valid id is returned unchanged; an invalid one has each bad character
    /// replaced by <c>_</c>, plus <c>_</c> and 8 hex digits of the original's SHA-256, so that <c>a:b</c> and
    /// <c>a.b</c> stay distinct; an empty one becomes <see cref="Empty"/>.
    /// </summary>
    /// <param name="id">The id as the other side sent it.</param>
    /// <returns>An id Anthropic accepts.</returns>
    public static string Sanitize(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (id.Length == 0)
        {
            return Empty;
        }

        if (!id.AsSpan().ContainsAnyExcept(s_idChars))
        {
            return id;
        }

        var builder = new StringBuilder(id.Length + 9);
        foreach (var c in id)
        {
            builder.Append(s_idChars.Contains(c) ? c : '_');
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..8];
        return builder.Append('_').Append(hash).ToString();
    }
}
