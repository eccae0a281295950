namespace CcxProxy.Channels;

/// <summary>Matches model names against allowlist patterns where '*' stands for any run of characters (case-insensitive).</summary>
internal static class ModelPattern
{
    public static bool AnyMatch(IReadOnlyList<string> patterns, string model)
    {
        foreach (var pattern in patterns)
        {
            if (IsMatch(pattern, model))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Greedy wildcard match with single backtrack point: linear for patterns with one '*',
    /// at worst O(pattern × text), never exponential.</summary>
    public static bool IsMatch(ReadOnlySpan<char> pattern, ReadOnlySpan<char> text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (p < pattern.Length && char.ToUpperInvariant(pattern[p]) == char.ToUpperInvariant(text[t]))
            {
                p++;
                t++;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
