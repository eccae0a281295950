namespace CcxProxy.Transforms.Json;

/// <summary>
/// Unpaired UTF-16 surrogates written as JSON escapes (<c>"\ud83d"</c>): what Node clients produce when they
/// cut a string in the middle of an emoji. The JSON is valid and the provider of the same protocol takes it,
/// so passthrough forwards it untouched; but .NET cannot turn such a string into text, so before a body is
/// read as text (conversion, session affinity) each one becomes U+FFFD, as a UTF-8 decoder does with a bad byte.
/// </summary>
public static class LoneSurrogates
{
    /// <summary>
    /// <paramref name="json"/> with every unpaired <c>\uD800</c>–<c>\uDFFF</c> escape inside a string replaced by
    /// <c>\uFFFD</c>; the same memory when there is none (the common case: one pass, no allocation).
    /// </summary>
    /// <param name="json">A well-formed JSON document (the scan validated it).</param>
    /// <returns>The body to read as text.</returns>
    public static ReadOnlyMemory<byte> Replace(ReadOnlyMemory<byte> json)
    {
        var span = json.Span;
        byte[]? copy = null;
        // In valid JSON a backslash only ever appears inside a string, as the start of an escape: jump from one
        // to the next (vectorised) instead of walking every byte.
        var i = span.IndexOf((byte)'\\');
        while (i >= 0 && i + 1 < span.Length)
        {
            // \" \\ \/ \b \f \n \r \t take two bytes; \uXXXX six (well-formed: the document was validated).
            var next = i + 2;
            if (span[i + 1] == (byte)'u' && TryUnit(span, i, out var unit))
            {
                next = i + 6;
                if (char.IsHighSurrogate(unit) && TryUnit(span, i + 6, out var low) && char.IsLowSurrogate(low))
                {
                    next = i + 12;
                }
                else if (char.IsSurrogate(unit))
                {
                    copy ??= span.ToArray();
                    "\\uFFFD"u8.CopyTo(copy.AsSpan(i));
                }
            }

            if (next >= span.Length)
            {
                break;
            }

            var ahead = span[next..].IndexOf((byte)'\\');
            i = ahead < 0 ? -1 : next + ahead;
        }

        return copy ?? json;
    }

    // The UTF-16 unit of a \uXXXX escape starting at at.
    private static bool TryUnit(ReadOnlySpan<byte> span, int at, out char unit)
    {
        unit = '\0';
        if (at + 6 > span.Length || span[at] != (byte)'\\' || span[at + 1] != (byte)'u')
        {
            return false;
        }

        var value = 0;
        for (var k = at + 2; k < at + 6; k++)
        {
            var digit = HexValue(span[k]);
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        unit = (char)value;
        return true;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
