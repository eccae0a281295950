using System.Buffers;
using System.Text;

namespace CcxProxy.Transforms.Sse;

/// <summary>Byte-level helpers for event data (<see cref="SseEvent.DataUtf8"/>), so converters need no string per event.</summary>
internal static class SseData
{
    /// <summary>
    /// <paramref name="utf8"/> without leading and trailing white space, by the same rule as
    /// <see cref="string.Trim()"/> (<see cref="Rune.IsWhiteSpace"/>, not only ASCII), so a byte comparison
    /// after it decides as <c>Data.Trim() == …</c> did.
    /// </summary>
    /// <param name="utf8">Valid UTF-8.</param>
    /// <returns>The trimmed slice.</returns>
    public static ReadOnlySpan<byte> TrimWhiteSpace(ReadOnlySpan<byte> utf8)
    {
        while (!utf8.IsEmpty)
        {
            if (utf8[0] < 0x80)
            {
                if (!IsAsciiWhiteSpace(utf8[0]))
                {
                    break;
                }

                utf8 = utf8[1..];
                continue;
            }

            if (Rune.DecodeFromUtf8(utf8, out var rune, out var consumed) != OperationStatus.Done || !Rune.IsWhiteSpace(rune))
            {
                break;
            }

            utf8 = utf8[consumed..];
        }

        while (!utf8.IsEmpty)
        {
            if (utf8[^1] < 0x80)
            {
                if (!IsAsciiWhiteSpace(utf8[^1]))
                {
                    break;
                }

                utf8 = utf8[..^1];
                continue;
            }

            if (Rune.DecodeLastFromUtf8(utf8, out var rune, out var consumed) != OperationStatus.Done || !Rune.IsWhiteSpace(rune))
            {
                break;
            }

            utf8 = utf8[..^consumed];
        }

        return utf8;
    }

    private static bool IsAsciiWhiteSpace(byte b) => char.IsWhiteSpace((char)b);
}
