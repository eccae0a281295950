namespace CcxProxy.Channels;

/// <summary>
/// Model mapping rule: an exact key (case-insensitive) wins; otherwise the LONGEST key contained in
/// the model name, case-insensitively ("claude-opus-4-7" -> key "opus"; "claude-sonnet-4-6" prefers
/// key "sonnet-4" over "sonnet"); otherwise the name unchanged.
/// </summary>
public static class ModelMapper
{
    /// <summary>Maps <paramref name="model"/> through <paramref name="mapping"/>. Sorts the keys on every call:
    /// on a hot path use <see cref="ChannelConfig.MapModel"/>, which sorts once per channel.</summary>
    /// <param name="mapping">Request model key to upstream model name.</param>
    /// <param name="model">The model name the client asked for.</param>
    /// <returns>The upstream model name.</returns>
    public static string Map(IReadOnlyDictionary<string, string> mapping, string model)
    {
        ArgumentNullException.ThrowIfNull(mapping);
        ArgumentNullException.ThrowIfNull(model);
        return CompiledModelMapping.Create(mapping).Map(model);
    }
}

/// <summary>A mapping with its keys sorted once, longest first (ties ordinal, for a stable result).</summary>
internal sealed class CompiledModelMapping
{
    public static readonly CompiledModelMapping Empty = new([], new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase));

    private readonly KeyValuePair<string, string>[] _byLengthDescending;
    private readonly Dictionary<string, string> _exact;

    private CompiledModelMapping(KeyValuePair<string, string>[] byLengthDescending, Dictionary<string, string> exact)
    {
        _byLengthDescending = byLengthDescending;
        _exact = exact;
    }

    public static CompiledModelMapping Create(IReadOnlyDictionary<string, string> mapping)
    {
        if (mapping.Count == 0)
        {
            return Empty;
        }

        var exact = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in mapping)
        {
            exact.TryAdd(key, value);
        }

        var sorted = exact.ToArray();
        Array.Sort(sorted, static (a, b) =>
        {
            var byLength = b.Key.Length.CompareTo(a.Key.Length);
            return byLength != 0 ? byLength : string.CompareOrdinal(a.Key, b.Key);
        });
        return new CompiledModelMapping(sorted, exact);
    }

    /// <summary>
    /// Two keys contained in <paramref name="model"/> that map it to different targets, neither being part of the
    /// other (<c>claude-haiku-claude-opus-4-7</c> with keys <c>haiku</c> and <c>opus</c>); null when the name is
    /// unambiguous. A key inside a longer matching key is a refinement, not a conflict (<c>sonnet</c> inside
    /// <c>sonnet-4</c>), and an exact key never conflicts.
    /// </summary>
    public (string First, string Second)? FindConflict(string model)
    {
        if (_byLengthDescending.Length < 2 || _exact.ContainsKey(model))
        {
            return null;
        }

        KeyValuePair<string, string>? chosen = null;
        List<string>? kept = null;
        foreach (var pair in _byLengthDescending)
        {
            var key = pair.Key;
            if (key.Length > model.Length || !model.Contains(key, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (kept is not null && kept.Exists(longer => longer.Contains(key, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (chosen is { } first && !string.Equals(first.Value, pair.Value, StringComparison.Ordinal))
            {
                return (first.Key, key);
            }

            chosen ??= pair;
            (kept ??= []).Add(key);
        }

        return null;
    }

    /// <summary>The key <see cref="Map"/> would choose when it is not an exact key; null for an exact key or none.</summary>
    public string? ContainedKey(string model)
    {
        if (_exact.ContainsKey(model))
        {
            return null;
        }

        foreach (var (key, _) in _byLengthDescending)
        {
            if (key.Length <= model.Length && model.Contains(key, StringComparison.OrdinalIgnoreCase))
            {
                return key;
            }
        }

        return null;
    }

    public string Map(string model)
    {
        if (_exact.TryGetValue(model, out var exactTarget))
        {
            return exactTarget;
        }

        foreach (var (key, target) in _byLengthDescending)
        {
            if (key.Length <= model.Length && model.Contains(key, StringComparison.OrdinalIgnoreCase))
            {
                return target;
            }
        }

        return model;
    }
}
