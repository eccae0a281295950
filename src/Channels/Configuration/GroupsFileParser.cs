using System.Text.Json;

namespace CcxProxy.Channels;

/// <summary>The result of parsing <c>groups.json</c>.</summary>
/// <param name="Groups">The groups by name, or null when the file was rejected.</param>
/// <param name="Errors">Every error, each naming the file and the field.</param>
public sealed record GroupsParseResult(IReadOnlyDictionary<string, GroupConfig>? Groups, IReadOnlyList<ChannelConfigError> Errors)
{
    /// <summary>True when the file is usable.</summary>
    public bool IsValid => Groups is not null && Errors.Count == 0;
}

/// <summary>
/// Parses <c>groups.json</c>, the one file in the channel folder that is not a channel:
/// <c>{"groups": {"team-b": {"models": ["claude-sonnet-*"], "limits": {"requestsPerMinute": 60, ...},
/// "cache": {"ttlSeconds": 3600}}}}</c>.
/// Every error is reported at once, with its field path (<c>groups.team-b.limits.concurrency</c>).
/// </summary>
public static class GroupsFileParser
{
    /// <summary>The reserved file name (so no channel may be called <c>groups</c>).</summary>
    public const string FileName = "groups.json";

    private static readonly string[] s_groupFields = ["models", "limits", "cache"];
    private static readonly string[] s_cacheFields = ["ttlSeconds", "maxEntryBytes", "mode"];
    private static readonly string[] s_cacheModes = ["always", "on-request"];
    private static readonly string[] s_limitFields = ["requestsPerMinute", "inputTokensPerMinute", "outputTokensPerMinute", "concurrency", "quota"];
    private static readonly string[] s_quotaFields = ["tokens", "period"];
    private static readonly string[] s_periods = ["total", "day", "month"];

    /// <summary>Parses and validates the file.</summary>
    public static GroupsParseResult Parse(string fileName, ReadOnlySpan<byte> utf8Json)
    {
        var errors = new List<ChannelConfigError>();
        void Error(string field, string message) => errors.Add(new ChannelConfigError(fileName, field, message));

        // Editors on Windows may save a byte order mark.
        if (utf8Json.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            utf8Json = utf8Json[3..];
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            Error("(json)", $"malformed JSON at line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}");
            return new GroupsParseResult(null, errors);
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                Error("(json)", "expected an object with a \"groups\" field");
                return new GroupsParseResult(null, errors);
            }

            var groups = new Dictionary<string, GroupConfig>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name != "groups")
                {
                    Error(property.Name, "unknown field; known fields are: groups");
                }
                else if (property.Value.ValueKind != JsonValueKind.Object)
                {
                    Error("groups", "expected an object of groups by name");
                }
                else
                {
                    foreach (var group in property.Value.EnumerateObject())
                    {
                        if (ParseGroup(group.Name, group.Value, Error) is { } config)
                        {
                            groups[group.Name] = config;
                        }
                    }
                }
            }

            return errors.Count > 0 ? new GroupsParseResult(null, errors) : new GroupsParseResult(groups, []);
        }
    }

    private static GroupConfig? ParseGroup(string name, JsonElement element, Action<string, string> error)
    {
        var path = "groups." + name;
        if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
        {
            error(path, "group names use letters, digits, '.', '_' and '-'");
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            error(path, "expected an object");
            return null;
        }

        List<string>? models = null;
        var limits = new GroupLimits();
        ResponseCacheConfig? cache = null;
        foreach (var field in element.EnumerateObject())
        {
            switch (field.Name)
            {
                case "cache":
                    cache = ParseCache(field.Value, path + ".cache", error);
                    break;
                case "models":
                    models = ParseModels(field.Value, path + ".models", error);
                    break;
                case "limits":
                    limits = ParseLimits(field.Value, path + ".limits", error);
                    break;
                default:
                    error($"{path}.{field.Name}", "unknown field; known fields are: " + string.Join(", ", s_groupFields));
                    break;
            }
        }

        return new GroupConfig { Name = name, Models = models, Limits = limits, Cache = cache };
    }

    private static List<string>? ParseModels(JsonElement element, string path, Action<string, string> error)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            error(path, "expected an array of model names or patterns");
            return null;
        }

        var models = new List<string>();
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String && item.GetString() is { Length: > 0 } model)
            {
                models.Add(model);
            }
            else
            {
                error($"{path}[{index}]", "expected a non-empty string");
            }

            index++;
        }

        return models;
    }

    private static GroupLimits ParseLimits(JsonElement element, string path, Action<string, string> error)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            error(path, "expected an object");
            return new GroupLimits();
        }

        var limits = new GroupLimits();
        foreach (var field in element.EnumerateObject())
        {
            var fieldPath = $"{path}.{field.Name}";
            switch (field.Name)
            {
                case "requestsPerMinute":
                    limits = limits with { RequestsPerMinute = (int?)Positive(field.Value, fieldPath, int.MaxValue, error) };
                    break;
                case "inputTokensPerMinute":
                    limits = limits with { InputTokensPerMinute = Positive(field.Value, fieldPath, long.MaxValue, error) };
                    break;
                case "outputTokensPerMinute":
                    limits = limits with { OutputTokensPerMinute = Positive(field.Value, fieldPath, long.MaxValue, error) };
                    break;
                case "concurrency":
                    limits = limits with { Concurrency = (int?)Positive(field.Value, fieldPath, int.MaxValue, error) };
                    break;
                case "quota":
                    limits = ParseQuota(field.Value, fieldPath, limits, error);
                    break;
                default:
                    error(fieldPath, "unknown field; known fields are: " + string.Join(", ", s_limitFields));
                    break;
            }
        }

        return limits;
    }

    private static GroupLimits ParseQuota(JsonElement element, string path, GroupLimits limits, Action<string, string> error)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            error(path, "expected an object like {\"tokens\": 1000000, \"period\": \"month\"}");
            return limits;
        }

        long? tokens = null;
        var period = "total";
        foreach (var field in element.EnumerateObject())
        {
            switch (field.Name)
            {
                case "tokens":
                    tokens = Positive(field.Value, path + ".tokens", long.MaxValue, error);
                    break;
                case "period":
                    if (field.Value.ValueKind == JsonValueKind.String && s_periods.Contains(field.Value.GetString()))
                    {
                        period = field.Value.GetString()!;
                    }
                    else
                    {
                        error(path + ".period", "one of: " + string.Join(", ", s_periods));
                    }

                    break;
                default:
                    error($"{path}.{field.Name}", "unknown field; known fields are: " + string.Join(", ", s_quotaFields));
                    break;
            }
        }

        if (tokens is null)
        {
            error(path + ".tokens", "required");
        }

        return limits with { QuotaTokens = tokens, QuotaPeriod = period };
    }

    private static ResponseCacheConfig? ParseCache(JsonElement element, string path, Action<string, string> error)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            error(path, "expected an object like {\"ttlSeconds\": 3600}");
            return null;
        }

        long? ttl = null;
        var sawTtl = false;
        var maxEntryBytes = new ResponseCacheConfig { Ttl = TimeSpan.Zero }.MaxEntryBytes;
        var mode = ResponseCacheMode.Always;
        foreach (var field in element.EnumerateObject())
        {
            var fieldPath = $"{path}.{field.Name}";
            switch (field.Name)
            {
                case "ttlSeconds":
                    sawTtl = true;
                    ttl = Positive(field.Value, fieldPath, (long)ResponseCacheConfig.MaxTtl.TotalSeconds, error);
                    break;
                case "maxEntryBytes":
                    maxEntryBytes = (int?)Positive(field.Value, fieldPath, ResponseCacheConfig.MaxEntryBytesLimit, error) ?? maxEntryBytes;
                    break;
                case "mode":
                    if (field.Value.ValueKind == JsonValueKind.String && s_cacheModes.Contains(field.Value.GetString()))
                    {
                        mode = field.Value.GetString() == "always" ? ResponseCacheMode.Always : ResponseCacheMode.OnRequest;
                    }
                    else
                    {
                        error(fieldPath, "one of: " + string.Join(", ", s_cacheModes));
                    }

                    break;
                default:
                    error(fieldPath, "unknown field; known fields are: " + string.Join(", ", s_cacheFields));
                    break;
            }
        }

        if (ttl is null)
        {
            if (!sawTtl)
            {
                error(path + ".ttlSeconds", "required: how long a stored answer is served");
            }

            return null;
        }

        return new ResponseCacheConfig { Ttl = TimeSpan.FromSeconds(ttl.Value), MaxEntryBytes = maxEntryBytes, Mode = mode };
    }

    private static long? Positive(JsonElement element, string path, long max, Action<string, string> error)
    {
        if (element.ValueKind == JsonValueKind.Number && element.TryGetInt64(out var value) && value >= 1 && value <= max)
        {
            return value;
        }

        error(path, $"expected a whole number from 1 to {max}");
        return null;
    }
}
