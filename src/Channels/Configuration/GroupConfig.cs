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

/// <summary>One caller group, from <c>groups.json</c> in the channel folder.</summary>
public sealed record GroupConfig
{
    /// <summary>The group's name (what keys and channel <c>groups</c> refer to).</summary>
    public required string Name { get; init; }

    /// <summary>Model names the group may request (<c>*</c> wildcards, case-insensitive); null: every model its channels serve.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>Limits that apply to the group as a whole.</summary>
    public GroupLimits Limits { get; init; } = new();

    /// <summary>True when the group may request <paramref name="model"/>.</summary>
    public bool AllowsModel(string model) => Models is null || ModelPattern.AnyMatch(Models, model);
}
