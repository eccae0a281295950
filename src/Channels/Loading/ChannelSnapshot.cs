namespace CcxProxy.Channels;

/// <summary>Immutable snapshot of the live channels; swapped atomically; a request keeps the one it started with.</summary>
public sealed record ChannelSnapshot
{
    private readonly Dictionary<string, ChannelConfig> _byName;

    /// <summary>Creates a snapshot; <paramref name="channels"/> is sorted by name (ordinal).</summary>
    /// <param name="channels">Live channels; names must be unique (case-insensitive).</param>
    /// <param name="rejected">Files whose current content was rejected.</param>
    /// <param name="version">Increases by one with every published snapshot.</param>
    /// <param name="loadedAt">When the snapshot was built.</param>
    /// <param name="directory">The full path of the channel directory.</param>
    /// <param name="groups">The groups from <c>groups.json</c> by name; null or empty when there is none.</param>
    public ChannelSnapshot(IEnumerable<ChannelConfig> channels, IEnumerable<RejectedChannelFile> rejected, long version, DateTimeOffset loadedAt, string directory,
        IReadOnlyDictionary<string, GroupConfig>? groups = null)
    {
        ArgumentNullException.ThrowIfNull(channels);
        ArgumentNullException.ThrowIfNull(rejected);
        ArgumentNullException.ThrowIfNull(directory);
        var sorted = channels.ToArray();
        Array.Sort(sorted, static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        Channels = sorted;
        _byName = new Dictionary<string, ChannelConfig>(sorted.Length, StringComparer.OrdinalIgnoreCase);
        foreach (var channel in sorted)
        {
            if (!_byName.TryAdd(channel.Name, channel))
            {
                throw new ArgumentException($"Duplicate channel name '{channel.Name}'.", nameof(channels));
            }
        }

        Rejected = [.. rejected.OrderBy(static r => r.File, StringComparer.Ordinal)];
        Version = version;
        LoadedAt = loadedAt;
        Directory = directory;
        Groups = groups ?? new Dictionary<string, GroupConfig>(StringComparer.Ordinal);
    }

    /// <summary>An empty snapshot (version 0) for <paramref name="directory"/>.</summary>
    /// <param name="directory">The channel directory.</param>
    /// <param name="loadedAt">When it was built.</param>
    /// <returns>A snapshot without channels.</returns>
    public static ChannelSnapshot Empty(string directory, DateTimeOffset loadedAt) => new([], [], 0, loadedAt, directory);

    /// <summary>The groups defined in <c>groups.json</c> (the last good version when the current one is rejected).</summary>
    public IReadOnlyDictionary<string, GroupConfig> Groups { get; }

    /// <summary>The group's configuration, or null when <c>groups.json</c> does not define it (no extra rules then).</summary>
    public GroupConfig? FindGroup(string name) => Groups.GetValueOrDefault(name);

    /// <summary>Live channels (valid files, plus the last good version of files whose new version was rejected), sorted by name.</summary>
    public IReadOnlyList<ChannelConfig> Channels { get; }

    /// <summary>Files whose current content was rejected, sorted by file name.</summary>
    public IReadOnlyList<RejectedChannelFile> Rejected { get; }

    /// <summary>Increases by one with every published snapshot.</summary>
    public long Version { get; }

    /// <summary>When this snapshot was built.</summary>
    public DateTimeOffset LoadedAt { get; }

    /// <summary>The full path of the channel directory.</summary>
    public string Directory { get; }

    /// <summary>
    /// Enabled channels that list <paramref name="group"/> in Groups and serve <paramref name="model"/>:
    /// ascending Priority; within one priority a weighted random order by Weight.
    /// </summary>
    /// <param name="group">The caller's group (ordinal match).</param>
    /// <param name="model">The requested model name.</param>
    /// <param name="random">Source of randomness (inject a seeded one in tests).</param>
    /// <returns>Channels to try, in order.</returns>
    public IReadOnlyList<ChannelConfig> Candidates(string group, string model, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return Candidates(group, model, span => WeightedShuffle(span, random));
    }

    /// <summary>
    /// As <see cref="Candidates(string, string, Random)"/>, but within one priority the order is decided by
    /// <paramref name="affinity"/> (weighted rendezvous hashing): one conversation always gets the same order,
    /// on every replica, and conversations spread over the channels in proportion to Weight.
    /// </summary>
    /// <param name="group">The caller's group (ordinal match).</param>
    /// <param name="model">The requested model name.</param>
    /// <param name="affinity">The conversation's affinity key.</param>
    /// <returns>Channels to try, in order.</returns>
    public IReadOnlyList<ChannelConfig> Candidates(string group, string model, ulong affinity) =>
        Candidates(group, model, span => Routing.Rendezvous.Order(span, affinity, static c => c.Name, static c => c.Weight));

    private IReadOnlyList<ChannelConfig> Candidates(string group, string model, SpanAction orderWithinPriority)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(model);

        List<ChannelConfig>? matches = null;
        foreach (var channel in Channels)
        {
            if (channel.Enabled && channel.Groups.Contains(group, StringComparer.Ordinal) && channel.ServesModel(model))
            {
                (matches ??= []).Add(channel);
            }
        }

        if (matches is null)
        {
            return [];
        }

        if (matches.Count == 1)
        {
            return matches;
        }

        // Stable sort by priority (Channels is sorted by name, so ties start in name order).
        var ordered = matches.OrderBy(static c => c.Priority).ToArray();
        var start = 0;
        while (start < ordered.Length)
        {
            var end = start + 1;
            while (end < ordered.Length && ordered[end].Priority == ordered[start].Priority)
            {
                end++;
            }

            orderWithinPriority(ordered.AsSpan(start, end - start));
            start = end;
        }

        return ordered;
    }

    private delegate void SpanAction(Span<ChannelConfig> span);

    /// <summary>Finds a live channel by name (case-insensitive, like YARP cluster ids).</summary>
    /// <param name="name">The channel name.</param>
    /// <returns>The channel, or null.</returns>
    public ChannelConfig? Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _byName.GetValueOrDefault(name);
    }

    /// <summary>Weighted sampling without replacement: each position draws among the remaining channels
    /// with probability proportional to Weight. Channel counts per priority are small, so O(n²) is fine.</summary>
    private static void WeightedShuffle(Span<ChannelConfig> span, Random random)
    {
        if (span.Length < 2)
        {
            return;
        }

        long total = 0;
        foreach (var channel in span)
        {
            total += channel.Weight;
        }

        for (var i = 0; i < span.Length - 1; i++)
        {
            var draw = random.NextInt64(total);
            var pick = i;
            for (; pick < span.Length - 1; pick++)
            {
                draw -= span[pick].Weight;
                if (draw < 0)
                {
                    break;
                }
            }

            total -= span[pick].Weight;
            (span[i], span[pick]) = (span[pick], span[i]);
        }
    }
}
