namespace CcxProxy.Usage;

/// <summary>Token counts of some requests, in Anthropic's terms (input excludes cache reads and writes).</summary>
public sealed record UsageTotals
{
    /// <summary>Requests answered (forwarded, or served from the response cache).</summary>
    public long Requests { get; init; }

    /// <summary>Of <see cref="Requests"/>, those answered from the response cache (no upstream tokens spent).</summary>
    public long CachedRequests { get; init; }

    /// <summary>Input tokens not read from or written to a cache.</summary>
    public long InputTokens { get; init; }

    /// <summary>Output tokens.</summary>
    public long OutputTokens { get; init; }

    /// <summary>Input tokens read from a prompt cache.</summary>
    public long CacheReadTokens { get; init; }

    /// <summary>Input tokens written to a prompt cache.</summary>
    public long CacheWriteTokens { get; init; }

    /// <summary>The sum of two totals.</summary>
    public UsageTotals Add(UsageTotals other) => new()
    {
        Requests = Requests + other.Requests,
        CachedRequests = CachedRequests + other.CachedRequests,
        InputTokens = InputTokens + other.InputTokens,
        OutputTokens = OutputTokens + other.OutputTokens,
        CacheReadTokens = CacheReadTokens + other.CacheReadTokens,
        CacheWriteTokens = CacheWriteTokens + other.CacheWriteTokens,
    };
}

/// <summary>One request's usage, with every dimension it is accounted under.</summary>
/// <param name="KeyId">The caller key's id (never the key).</param>
/// <param name="Group">The caller's group.</param>
/// <param name="Channel">The channel that answered; null for an answer from the response cache (no channel's usage).</param>
/// <param name="Model">The model name the client asked for.</param>
/// <param name="Totals">What it used (Requests = 1).</param>
public sealed record UsageEntry(string KeyId, string Group, string? Channel, string Model, UsageTotals Totals);

/// <summary>
/// Usage accounting per key, group, channel and model in hourly buckets (UTC): in Redis when configured,
/// so every replica adds to the same counters, in memory otherwise.
/// </summary>
public interface IUsageStore
{
    /// <summary>Adds one request's usage under each of its dimensions.</summary>
    Task RecordAsync(UsageEntry entry, DateTimeOffset at, CancellationToken cancellationToken);

    /// <summary>
    /// The totals of one dimension (<c>key</c>, <c>group</c>, <c>channel</c> or <c>model</c>) and name, summed
    /// over the hourly buckets from <paramref name="from"/> to <paramref name="to"/> (both inclusive, by hour).
    /// </summary>
    Task<UsageTotals> ReadAsync(string dimension, string name, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken);
}

/// <summary>The dimensions usage is kept under.</summary>
public static class UsageDimensions
{
    /// <summary>Per caller key id.</summary>
    public const string Key = "key";

    /// <summary>Per caller group.</summary>
    public const string Group = "group";

    /// <summary>Per channel.</summary>
    public const string Channel = "channel";

    /// <summary>Per requested model.</summary>
    public const string Model = "model";

    /// <summary>All four.</summary>
    public static IReadOnlyList<string> All { get; } = [Key, Group, Channel, Model];

    /// <summary>The names of <paramref name="entry"/> under each dimension.</summary>
    public static IEnumerable<(string Dimension, string Name)> Of(UsageEntry entry) => entry.Channel is null
        ? [(Key, entry.KeyId), (Group, entry.Group), (Model, entry.Model)]
        : [(Key, entry.KeyId), (Group, entry.Group), (Channel, entry.Channel), (Model, entry.Model)];

    /// <summary>The hourly bucket name of an instant: <c>yyyyMMddHH</c> (UTC).</summary>
    public static string Bucket(DateTimeOffset at) => at.UtcDateTime.ToString("yyyyMMddHH", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The longest range one usage query covers: 31 days of hourly buckets.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(31);

    /// <summary>How long usage is kept (the Redis buckets expire after it).</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(40);

    /// <summary>Why the range cannot be answered whole, or null when it can: a query is refused, never cut short.</summary>
    public static string? CheckRange(DateTimeOffset from, DateTimeOffset to, DateTimeOffset now)
    {
        if (from > to)
        {
            return "from must not be after to";
        }

        if (to - from > MaxRange)
        {
            return $"the range spans more than {MaxRange.TotalDays:0} days; ask for at most {MaxRange.TotalDays:0} days at a time and add the results up";
        }

        return from < now - Retention
            ? $"from is more than {Retention.TotalDays:0} days ago; usage is kept for {Retention.TotalDays:0} days"
            : null;
    }

    /// <summary>Every hourly bucket from <paramref name="from"/> to <paramref name="to"/> (at most <see cref="MaxRange"/>: see <see cref="CheckRange"/>).</summary>
    public static IEnumerable<string> Buckets(DateTimeOffset from, DateTimeOffset to)
    {
        var hour = new DateTimeOffset(from.UtcDateTime.Year, from.UtcDateTime.Month, from.UtcDateTime.Day, from.UtcDateTime.Hour, 0, 0, TimeSpan.Zero);
        for (var i = 0; hour <= to && i <= (int)MaxRange.TotalHours; i++, hour = hour.AddHours(1))
        {
            yield return Bucket(hour);
        }
    }
}
