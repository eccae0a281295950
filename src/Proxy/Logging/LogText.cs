using System.Text;

namespace CcxProxy.Logging;

/// <summary>
/// Makes a value a caller chose (a model name, a header) safe to write into a log line: control characters
/// (CR and LF above all, which would start a forged line) are written as <c>\uXXXX</c>, and a value is cut at
/// <see cref="MaxLength"/> characters, so no caller can forge a line or flood the log.
/// </summary>
public static class LogText
{
    /// <summary>The longest value written; the rest is replaced by an ellipsis.</summary>
    public const int MaxLength = 256;

    /// <summary>The value as it may be logged; the same string when it needs no change (the common case).</summary>
    public static string? Escape(string? value)
    {
        if (value is null || (value.Length <= MaxLength && !NeedsEscaping(value)))
        {
            return value;
        }

        var builder = new StringBuilder(Math.Min(value.Length, MaxLength) + 16);
        foreach (var c in value.AsSpan(0, Math.Min(value.Length, MaxLength)))
        {
            if (IsUnsafe(c))
            {
                builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                builder.Append(c);
            }
        }

        if (value.Length > MaxLength)
        {
            builder.Append('…');
        }

        return builder.ToString();
    }

    private static bool NeedsEscaping(string value)
    {
        foreach (var c in value)
        {
            if (IsUnsafe(c))
            {
                return true;
            }
        }

        return false;
    }

    // C0 and C1 controls, DEL, the Unicode line and paragraph separators, and lone surrogates.
    private static bool IsUnsafe(char c) => char.IsControl(c) || c is '\u2028' or '\u2029' || char.IsSurrogate(c);
}
