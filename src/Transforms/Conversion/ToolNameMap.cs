using System.Security.Cryptography;
using System.Text;

namespace CcxProxy.Transforms.Conversion;

/// <summary>
/// OpenAI limits function names to 64 characters of <c>[a-zA-Z0-9_-]</c>; Anthropic tool names may be
/// longer. Long names are shortened deterministically (55 characters, <c>_</c>, 8 hex digits of their
/// SHA-256) and mapped back in answers (docs/protocols.md §1.1, §8 #31).
/// </summary>
public sealed class ToolNameMap
{
    private const int MaxLength = 64;
    private readonly Dictionary<string, string> _toClient = new(StringComparer.Ordinal);

    /// <summary>A map that changes nothing (no tool was renamed).</summary>
    public static ToolNameMap Identity { get; } = new();

    /// <summary>The name to send upstream for <paramref name="clientName"/>, remembering the way back.</summary>
    public string ToUpstream(string clientName)
    {
        if (clientName.Length <= MaxLength)
        {
            return clientName;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(clientName)))[..8];
        var shortened = clientName[..55] + "_" + hash;
        _toClient[shortened] = clientName;
        return shortened;
    }

    /// <summary>The client's name for a tool name the upstream used.</summary>
    public string ToClient(string upstreamName) => _toClient.TryGetValue(upstreamName, out var name) ? name : upstreamName;
}
