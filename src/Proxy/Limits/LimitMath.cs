using System.Globalization;
using CcxProxy.Keys;

namespace CcxProxy.Limits;

/// <summary>
/// The arithmetic both stores share (the Lua scripts in <see cref="LimitScripts"/> mirror it line for line):
/// GCRA over a one-minute window, in milliseconds since the Unix epoch, as doubles.
/// </summary>
internal static class LimitMath
{
    /// <summary>The rate window: every per-minute limit may be used in full at once.</summary>
    public const double WindowMs = 60_000;

    /// <summary>Slack for floating-point rounding (Redis stores TATs with 3 decimals).</summary>
    public const double EpsilonMs = 0.01;

    /// <summary>How long after its TAT a GCRA key is kept (its TTL).</summary>
    public const double GcraKeyGraceMs = 120_000;

    /// <summary>The retry-after given for a concurrency refusal: slots free when requests end, not on a schedule.</summary>
    public const long ConcurrencyRetryMs = 1_000;

    /// <summary>Whole milliseconds to wait, at least one.</summary>
    public static long CeilMs(double ms) => Math.Max(1, (long)Math.Ceiling(ms - EpsilonMs));

    /// <summary>How many more unit costs fit now under a TAT (requests left, or tokens left).</summary>
    public static long Remaining(double tat, double now, double interval) =>
        Math.Max(0, (long)Math.Floor(((WindowMs - (Math.Max(tat, now) - now)) / interval) + 1e-6));

    /// <summary>Milliseconds since the Unix epoch, with sub-millisecond precision.</summary>
    public static double NowMs(TimeProvider time) => (time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / (double)TimeSpan.TicksPerMillisecond;

    /// <summary>
    /// The storage suffix of the quota period containing <paramref name="now"/> (the period's start, UTC) and
    /// when it ends; a total quota has no end.
    /// </summary>
    public static (string Suffix, DateTimeOffset? End) QuotaPeriodOf(QuotaPeriod period, DateTimeOffset now)
    {
        var utc = now.ToUniversalTime();
        switch (period)
        {
            case QuotaPeriod.Day:
                var day = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
                return (day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), day.AddDays(1));
            case QuotaPeriod.Month:
                var month = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
                return (month.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), month.AddMonths(1));
            default:
                return ("total", null);
        }
    }
}
