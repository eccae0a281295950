using System.Globalization;

namespace CcxProxy.Usage;

/// <summary>How usage totals are asked for and shown, the same for the admin API and the CLI.</summary>
internal static class UsageReport
{
    /// <summary>An instant like <c>2026-11-23T00:00:00Z</c> (UTC when no offset is given); <paramref name="fallback"/> when empty.</summary>
    public static bool TryParseInstant(string? text, DateTimeOffset fallback, out DateTimeOffset value)
    {
        if (string.IsNullOrEmpty(text))
        {
            value = fallback;
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out value);
    }

    /// <summary>The JSON object both the admin API and <c>ccx-proxy usage --json</c> answer with.</summary>
    public static object ToJson(string dimension, string name, DateTimeOffset from, DateTimeOffset to, UsageTotals totals) => new
    {
        dimension,
        name,
        from,
        to,
        requests = totals.Requests,
        cached_requests = totals.CachedRequests,
        input_tokens = totals.InputTokens,
        output_tokens = totals.OutputTokens,
        cache_read_input_tokens = totals.CacheReadTokens,
        cache_creation_input_tokens = totals.CacheWriteTokens,
    };
}
