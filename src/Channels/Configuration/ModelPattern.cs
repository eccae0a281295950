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

    /// <summary>
    /// Whether some occurrence of <paramref name="key"/> in <paramref name="text"/> overlaps a character that
    /// <paramref name="pattern"/> matches with one of its literal characters (not with a '*'), in any way the
    /// pattern can match the text: the pattern itself then names that part of the text. False when it does not
    /// match at all. O(pattern × text).
    /// </summary>
    public static bool KeyOverlapsLiteral(string pattern, string text, string key)
    {
        var (n, m) = (pattern.Length, text.Length);
        // forward[i, j]: pattern[..i] matches text[..j]; backward[i, j]: pattern[i..] matches text[j..].
        var forward = new bool[n + 1, m + 1];
        var backward = new bool[n + 1, m + 1];
        forward[0, 0] = true;
        for (var i = 1; i <= n; i++)
        {
            for (var j = 0; j <= m; j++)
            {
                forward[i, j] = pattern[i - 1] == '*'
                    ? forward[i - 1, j] || (j > 0 && forward[i, j - 1])
                    : j > 0 && forward[i - 1, j - 1] && Same(pattern[i - 1], text[j - 1]);
            }
        }

        backward[n, m] = true;
        for (var i = n - 1; i >= 0; i--)
        {
            for (var j = m; j >= 0; j--)
            {
                backward[i, j] = pattern[i] == '*'
                    ? backward[i + 1, j] || (j < m && backward[i, j + 1])
                    : j < m && backward[i + 1, j + 1] && Same(pattern[i], text[j]);
            }
        }

        if (!forward[n, m])
        {
            return false;
        }

        var literal = new bool[m];
        for (var i = 0; i < n; i++)
        {
            if (pattern[i] == '*')
            {
                continue;
            }

            for (var j = 0; j < m; j++)
            {
                literal[j] |= forward[i, j] && Same(pattern[i], text[j]) && backward[i + 1, j + 1];
            }
        }

        for (var at = text.IndexOf(key, StringComparison.OrdinalIgnoreCase); at >= 0; at = text.IndexOf(key, at + 1, StringComparison.OrdinalIgnoreCase))
        {
            if (Array.IndexOf(literal, true, at, key.Length) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    private static bool Same(char a, char b) => char.ToUpperInvariant(a) == char.ToUpperInvariant(b);
}
