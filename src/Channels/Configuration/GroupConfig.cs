namespace CcxProxy.Channels;

/// <summary>A group's default limits (null fields are not limited). Keys may carry their own limits on top.</summary>
public sealed record GroupLimits
{
    /// <summary>Requests per minute for the whole group.</summary>
    public int? RequestsPerMinute { get; init; }

    /// <summary>Input tokens per minute for the whole group.</summary>
    public long? InputTokensPerMinute { get; init; }

    /// <summary>Output tokens per minute for the whole group.</summary>
    public long? OutputTokensPerMinute { get; init; }

    /// <summary>Requests in flight at once for the whole group.</summary>
    public int? Concurrency { get; init; }

    /// <summary>A token allowance for the whole group per period.</summary>
    public long? QuotaTokens { get; init; }

    /// <summary>How the quota renews: <c>total</c> (never), <c>day</c> or <c>month</c> (UTC).</summary>
    public string QuotaPeriod { get; init; } = "total";
}

/// <summary>When a group's requests may be answered from the response cache.</summary>
public enum ResponseCacheMode
{
    /// <summary>Every request of the group, unless it says <c>Cache-Control: no-cache</c> or <c>no-store</c>.</summary>
    Always,

    /// <summary>Only requests that ask for it with <c>x-ccx-cache: use</c>.</summary>
    OnRequest,
}

/// <summary>A group's exact-match response cache (<c>"cache"</c> in <c>groups.json</c>).</summary>
public sealed record ResponseCacheConfig
{
    /// <summary>The largest <see cref="MaxEntryBytes"/> a group may set (16 MiB): what one entry may hold in Redis and in memory.</summary>
    public const int MaxEntryBytesLimit = 16 * 1024 * 1024;

    /// <summary>The longest <see cref="Ttl"/> a group may set (30 days).</summary>
    public static readonly TimeSpan MaxTtl = TimeSpan.FromDays(30);

    /// <summary>How long a stored answer is served.</summary>
    public required TimeSpan Ttl { get; init; }

    /// <summary>The largest answer stored (as the upstream sent it); larger answers are relayed and not stored.</summary>
    public int MaxEntryBytes { get; init; } = 1024 * 1024;

    /// <summary>Which requests use the cache.</summary>
    public ResponseCacheMode Mode { get; init; } = ResponseCacheMode.Always;
}

/// <summary>One caller group, from <c>groups.json</c> in the channel folder.</summary>
public sealed record GroupConfig
{
    /// <summary>The group's name (what keys and channel <c>groups</c> refer to).</summary>
    public required string Name { get; init; }

    /// <summary>Model names the group may request (<c>*</c> wildcards, case-insensitive); null: every model its channels serve.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>Limits that apply to the group as a whole.</summary>
    public GroupLimits Limits { get; init; } = new();

    /// <summary>The group's response cache; null when its answers are never cached.</summary>
    public ResponseCacheConfig? Cache { get; init; }

    /// <summary>True when the group may request <paramref name="model"/>.</summary>
    public bool AllowsModel(string model) => Models is null || ModelPattern.AnyMatch(Models, model);
}
