using System.Globalization;
using System.Net.Http.Headers;

namespace CcxProxy.Transforms.Protocols;

/// <summary>
/// Reads how long an upstream asked callers to wait before trying again, from the headers of a failed
/// response (docs/protocols.md §6). In order of precedence: <c>retry-after-ms</c> (milliseconds, as OpenAI sends
/// and its SDK reads); <c>retry-after</c> (delta-seconds or an HTTP-date, RFC 9110 §10.2.3); the reset time of
/// the rate limits that are exhausted (remaining <c>0</c>), the longest of them: Anthropic's
/// <c>anthropic-ratelimit-*-reset</c> (RFC 3339 timestamps) and OpenAI's <c>x-ratelimit-reset-*</c> (Go
/// durations such as <c>6m0s</c>). Values that cannot be read are ignored, never thrown on; a time in the past
/// is zero. There is no upper bound here: the caller clamps.
/// </summary>
public static class RetryHints
{
    private const NumberStyles NumberStyle = NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite
        | NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint;

    // IMF-fixdate, and the two obsolete forms a recipient must still accept (RFC 9110 §5.6.7).
    private static readonly string[] HttpDateFormats =
    [
        "r",
        "dddd, dd'-'MMM'-'yy HH':'mm':'ss 'GMT'",
        "ddd MMM d HH':'mm':'ss yyyy",
    ];

    // (remaining, reset) header pairs: a reset counts only when its limit is exhausted.
    private static readonly (string Remaining, string Reset)[] AnthropicLimits =
    [
        ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset"),
        ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset"),
        ("anthropic-ratelimit-input-tokens-remaining", "anthropic-ratelimit-input-tokens-reset"),
        ("anthropic-ratelimit-output-tokens-remaining", "anthropic-ratelimit-output-tokens-reset"),
    ];

    private static readonly (string Remaining, string Reset)[] OpenAILimits =
    [
        ("x-ratelimit-remaining-requests", "x-ratelimit-reset-requests"),
        ("x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"),
    ];

    private enum Form
    {
        Milliseconds,
        RetryAfter,
        Timestamp,
        GoDuration,
    }

    /// <summary>How long the upstream asked callers to wait, or null when its headers give no usable hint.</summary>
    /// <param name="headers">The response headers.</param>
    /// <param name="contentHeaders">The response's content headers, if any (looked at too, in case a hint landed there).</param>
    /// <param name="now">The time the response was produced: HTTP-dates and timestamps are relative to it.</param>
    /// <returns>The wait, zero or more, or null.</returns>
    public static TimeSpan? Read(HttpResponseHeaders headers, HttpContentHeaders? contentHeaders, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(headers);
        if (First(headers, contentHeaders, "retry-after-ms", Form.Milliseconds, now) is { } milliseconds)
        {
            return milliseconds;
        }

        if (First(headers, contentHeaders, "retry-after", Form.RetryAfter, now) is { } retryAfter)
        {
            return retryAfter;
        }

        var longest = Longest(headers, contentHeaders, AnthropicLimits, Form.Timestamp, now, null);
        return Longest(headers, contentHeaders, OpenAILimits, Form.GoDuration, now, longest);
    }

    /// <summary>
    /// Parses a Go <c>time.Duration</c> string (<c>1h2m3.5s</c>, <c>20ms</c>, <c>0</c>): optionally signed, a
    /// sequence of decimal numbers each with a unit (<c>ns</c>, <c>us</c>/<c>µs</c>, <c>ms</c>, <c>s</c>,
    /// <c>m</c>, <c>h</c>). Results too large for a <see cref="TimeSpan"/> saturate.
    /// </summary>
    internal static bool TryParseGoDuration(ReadOnlySpan<char> text, out TimeSpan value)
    {
        value = default;
        var s = text.Trim();
        var sign = 1.0;
        if (!s.IsEmpty && s[0] is '-' or '+')
        {
            sign = s[0] == '-' ? -1 : 1;
            s = s[1..];
        }

        if (s.SequenceEqual("0"))
        {
            value = TimeSpan.Zero;
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        var milliseconds = 0.0;
        while (!s.IsEmpty)
        {
            var numberLength = s.IndexOfAnyExcept("0123456789.");
            if (numberLength <= 0
                || !double.TryParse(s[..numberLength], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                // No number, or a number without a unit (only a bare "0" may omit it).
                return false;
            }

            s = s[numberLength..];
            var unitLength = s.IndexOfAny("0123456789.");
            var unit = unitLength < 0 ? s : s[..unitLength];
            var factor = unit switch
            {
                "ns" => 1e-6,
                "us" or "\u00B5s" or "\u03BCs" => 1e-3,
                "ms" => 1.0,
                "s" => 1e3,
                "m" => 60e3,
                "h" => 3600e3,
                _ => double.NaN,
            };
            if (double.IsNaN(factor))
            {
                return false;
            }

            milliseconds += number * factor;
            s = s[unit.Length..];
        }

        value = FromMilliseconds(sign * milliseconds);
        return true;
    }

    private static TimeSpan? Longest(HttpResponseHeaders headers, HttpContentHeaders? contentHeaders,
        (string Remaining, string Reset)[] limits, Form form, DateTimeOffset now, TimeSpan? longest)
    {
        foreach (var (remaining, reset) in limits)
        {
            if (IsExhausted(headers, contentHeaders, remaining)
                && First(headers, contentHeaders, reset, form, now) is { } wait
                && (longest is null || wait > longest))
            {
                longest = wait;
            }
        }

        return longest;
    }

    private static bool IsExhausted(HttpResponseHeaders headers, HttpContentHeaders? contentHeaders, string name) =>
        (Remaining(headers, name) ?? Remaining(contentHeaders, name)) is <= 0;

    private static double? Remaining(HttpHeaders? headers, string name)
    {
        // NonValidated: the raw values, without HttpHeaders' parsing (which drops what it cannot parse).
        if (headers is not null && headers.NonValidated.TryGetValues(name, out var values))
        {
            foreach (var value in values)
            {
                if (ReadNumber(value) is { } remaining)
                {
                    return remaining;
                }
            }
        }

        return null;
    }

    /// <summary>The first value of <paramref name="name"/> that parses as <paramref name="form"/>.</summary>
    private static TimeSpan? First(HttpResponseHeaders headers, HttpContentHeaders? contentHeaders, string name, Form form, DateTimeOffset now) =>
        First(headers, name, form, now) ?? First(contentHeaders, name, form, now);

    private static TimeSpan? First(HttpHeaders? headers, string name, Form form, DateTimeOffset now)
    {
        if (headers is not null && headers.NonValidated.TryGetValues(name, out var values))
        {
            foreach (var value in values)
            {
                if (Parse(value, form, now) is { } wait)
                {
                    return wait;
                }
            }
        }

        return null;
    }

    private static TimeSpan? Parse(string value, Form form, DateTimeOffset now)
    {
        switch (form)
        {
            case Form.Milliseconds:
                return ReadNumber(value) is { } milliseconds ? FromMilliseconds(milliseconds) : null;
            case Form.RetryAfter:
                if (ReadNumber(value) is { } seconds)
                {
                    return FromMilliseconds(seconds * 1000);
                }

                return DateTimeOffset.TryParseExact(value.Trim(), HttpDateFormats, CultureInfo.InvariantCulture,
                    DateTimeStyles.AllowInnerWhite | DateTimeStyles.AssumeUniversal, out var date)
                    ? Until(date, now)
                    : null;
            case Form.Timestamp:
                // RFC 3339 always has a date part with '-': this keeps the lenient parser off bare numbers and times.
                return value.Contains('-', StringComparison.Ordinal)
                    && DateTimeOffset.TryParse(value.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var reset)
                    ? Until(reset, now)
                    : null;
            default:
                return TryParseGoDuration(value, out var duration) ? duration : null;
        }
    }

    private static double? ReadNumber(string value) =>
        double.TryParse(value, NumberStyle, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number) ? number : null;

    private static TimeSpan Until(DateTimeOffset time, DateTimeOffset now) =>
        time <= now ? TimeSpan.Zero : time - now;

    /// <summary>Clamps below at zero and saturates above at <see cref="TimeSpan.MaxValue"/>: never throws.</summary>
    private static TimeSpan FromMilliseconds(double milliseconds)
    {
        var ticks = milliseconds * TimeSpan.TicksPerMillisecond;
        return !(ticks > 0) ? TimeSpan.Zero
            : ticks >= long.MaxValue ? TimeSpan.MaxValue
            : TimeSpan.FromTicks((long)ticks);
    }
}
