using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels;

/// <summary>Parses and validates one channel file (JSON, comments and trailing commas allowed).</summary>
public static partial class ChannelFileParser
{
    /// <summary>Prefix of a value that is read from the environment: <c>"env:NAME"</c>.</summary>
    public const string EnvironmentPrefix = "env:";

    /// <summary>Field names, exactly as they appear in a file.</summary>
    internal static class Fields
    {
        public const string Name = "name";
        public const string Type = "type";
        public const string BaseUrl = "baseUrl";
        public const string BaseUrls = "baseUrls";
        public const string ApiKeys = "apiKeys";
        public const string Auth = "auth";
        public const string Models = "models";
        public const string ModelMapping = "modelMapping";
        public const string Priority = "priority";
        public const string Weight = "weight";
        public const string Groups = "groups";
        public const string Headers = "headers";
        public const string Enabled = "enabled";
        public const string Timeouts = "timeouts";
        public const string MaxTokens = "maxTokens";
        public const string MaxTokensField = "maxTokensField";
        public const string StreamUsage = "streamUsage";
        public const string PassBackReasoning = "passBackReasoning";
        public const string PropagateTraceContext = "propagateTraceContext";
        public const string StripClaudeCodeAttribution = "stripClaudeCodeAttribution";
        public const string CaCertificates = "caCertificates";
        public const string Json = "(json)";
        public const string Connect = "connect";
        public const string ResponseHeaders = "responseHeaders";
        public const string Idle = "idle";
        public const string FirstContent = "firstContent";
    }

    /// <summary>Every top-level field a channel file may hold (docs/channels.md documents each).</summary>
    public static IReadOnlyList<string> TopLevelFields => KnownFields;

    private static readonly string[] KnownFields =
    [
        Fields.Name, Fields.Type, Fields.BaseUrl, Fields.BaseUrls, Fields.ApiKeys, Fields.Auth, Fields.Models,
        Fields.ModelMapping, Fields.Priority, Fields.Weight, Fields.Groups, Fields.Headers, Fields.Enabled,
        Fields.Timeouts, Fields.MaxTokens, Fields.MaxTokensField, Fields.StreamUsage, Fields.PassBackReasoning,
        Fields.StripClaudeCodeAttribution, Fields.PropagateTraceContext, Fields.CaCertificates,
    ];

    private static readonly string[] KnownTimeoutFields = [Fields.Connect, Fields.ResponseHeaders, Fields.FirstContent, Fields.Idle];

    // Hop-by-hop headers (RFC 9110 7.6.1 plus the legacy ones proxies strip), framing headers the
    // forwarder owns, and the auth headers that come from apiKeys.
    private static readonly HashSet<string> ForbiddenHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "x-api-key", "Authorization",
        "x-goog-api-key",
    };

    private const int MaxWeight = 1_000_000;
    private const int MaxCaFileBytes = 1024 * 1024;
    private const double MaxTimeoutSeconds = 86_400;

    private static readonly JsonReaderOptions ReaderOptions = new()
    {
        CommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        MaxDepth = 16,
    };

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    // RFC 9110 token characters.
    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex HeaderNamePattern();

    /// <summary>
    /// Parses and validates one file; reports EVERY error at once (field paths like <c>baseUrl</c>,
    /// <c>apiKeys[1]</c>, <c>timeouts.idle</c>, <c>modelMapping.opus</c>).
    /// </summary>
    /// <param name="fileName">The file name (a path is reduced to its file name); the default channel name.</param>
    /// <param name="utf8Json">The file content.</param>
    /// <param name="environment">Resolves <c>env:NAME</c> values; null or empty means unset.</param>
    /// <returns>The channel, or every error found.</returns>
    public static ChannelParseResult Parse(string fileName, ReadOnlySpan<byte> utf8Json, Func<string, string?> environment) =>
        Parse(fileName, utf8Json, environment, Directory.GetCurrentDirectory());

    /// <summary>As <see cref="Parse(string, ReadOnlySpan{byte}, Func{string, string?})"/>, with relative <c>caCertificates</c> paths resolved against <paramref name="directory"/>.</summary>
    /// <param name="fileName">The file name (a path is reduced to its file name); the default channel name.</param>
    /// <param name="utf8Json">The file content.</param>
    /// <param name="environment">Resolves <c>env:NAME</c> values; null or empty means unset.</param>
    /// <param name="directory">The channel folder.</param>
    /// <returns>The channel, or every error found.</returns>
    public static ChannelParseResult Parse(string fileName, ReadOnlySpan<byte> utf8Json, Func<string, string?> environment, string directory)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(environment);
        fileName = Path.GetFileName(fileName);
        var errors = new ErrorList(fileName);

        if (utf8Json.StartsWith("\uFEFF"u8))
        {
            utf8Json = utf8Json[3..];
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, ReaderOptions);
            document = JsonDocument.ParseValue(ref reader);
            try
            {
                // ParseValue stops after one value; a second value makes Read throw, comments are skipped.
                if (reader.Read())
                {
                    document.Dispose();
                    return Failed(errors, Fields.Json, "unexpected content after the JSON object");
                }
            }
            catch (JsonException)
            {
                document.Dispose();
                throw;
            }
        }
        catch (JsonException ex)
        {
            var line = (ex.LineNumber ?? 0) + 1;
            var position = (ex.BytePositionInLine ?? 0) + 1;
            return Failed(errors, Fields.Json, $"malformed JSON at line {line}, byte {position}: {FirstSentence(ex.Message)}");
        }

        using (document)
        {
            var referenced = new List<(string Path, byte[]? Content)>();
            var result = Validate(document.RootElement, fileName, environment, directory, errors, referenced);
            return result with
            {
                ReferencedFiles = [.. referenced.Select(static r => r.Path)],
                ReferencedDigest = Digest(referenced),
            };
        }
    }

    private static ChannelParseResult Validate(JsonElement root, string fileName, Func<string, string?> environment, string directory, ErrorList errors, List<(string Path, byte[]? Content)> referenced)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return Failed(errors, Fields.Json, $"expected a JSON object, found {Describe(root.ValueKind)}");
        }

        var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (Array.IndexOf(KnownFields, property.Name) < 0)
            {
                errors.Add(property.Name, "unknown field; known fields are: " + string.Join(", ", KnownFields));
            }
            else if (!fields.TryAdd(property.Name, property.Value))
            {
                errors.Add(property.Name, "duplicate field");
            }
        }

        var name = ParseName(fields, fileName, errors);
        var type = ParseType(fields, errors);
        var baseUrls = ParseBaseUrls(fields, errors);
        var apiKeys = ParseApiKeys(fields, environment, errors);
        var auth = ParseAuth(fields, type, errors);
        var models = ParseModels(fields, errors);
        var modelMapping = ParseStringMap(fields, Fields.ModelMapping, errors, environment: null);
        var priority = ParseInt(fields, Fields.Priority, 0, int.MinValue, int.MaxValue, errors);
        var weight = ParseInt(fields, Fields.Weight, 1, 1, MaxWeight, errors);
        var groups = ParseGroups(fields, errors);
        var headers = ParseStringMap(fields, Fields.Headers, errors, environment);
        var enabled = ParseBool(fields, Fields.Enabled, true, errors);
        var timeouts = ParseTimeouts(fields, errors);
        var maxTokens = ParseMaxTokens(fields, errors);
        var maxTokensField = ParseMaxTokensField(fields, errors);
        var streamUsage = ParseBool(fields, Fields.StreamUsage, true, errors);
        var passBackReasoning = ParseBool(fields, Fields.PassBackReasoning, false, errors);
        var propagateTraceContext = ParseBool(fields, Fields.PropagateTraceContext, false, errors);
        var (caFiles, caPem) = ParseCaCertificates(fields, directory, errors, referenced);
        // Anthropic's own API gets Claude Code's requests untouched; other hosts cache better without
        // the attribution block, which changes on every request.
        var stripAttribution = ParseBool(fields, Fields.StripClaudeCodeAttribution,
            baseUrls is not null && !baseUrls.All(IsAnthropicApi), errors);

        if (errors.Count > 0 || name is null || type is null || baseUrls is null || apiKeys is null)
        {
            return new ChannelParseResult(null, errors.ToList());
        }

        var channel = new ChannelConfig
        {
            Name = name,
            Type = type.Value,
            BaseUrls = baseUrls,
            ApiKeys = apiKeys,
            Auth = auth,
            Models = models,
            ModelMapping = modelMapping,
            Priority = priority,
            Weight = weight,
            Groups = groups,
            Headers = headers,
            Enabled = enabled,
            Timeouts = timeouts,
            MaxTokens = maxTokens,
            MaxTokensField = maxTokensField,
            StreamUsage = streamUsage,
            PassBackReasoning = passBackReasoning,
            StripClaudeCodeAttribution = stripAttribution,
            PropagateTraceContext = propagateTraceContext,
            CaCertificateFiles = caFiles,
            CaCertificatesPem = caPem,
            SourceFile = fileName,
        };
        return new ChannelParseResult(channel, []);
    }

    private static ChannelParseResult Failed(ErrorList errors, string field, string message)
    {
        errors.Add(field, message);
        return new ChannelParseResult(null, errors.ToList());
    }

    private static string FirstSentence(string message)
    {
        // JsonException messages end with " Path: $ | LineNumber: 0 | BytePositionInLine: 5." (zero-based); we print our own.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    private static string? ParseName(Dictionary<string, JsonElement> fields, string fileName, ErrorList errors)
    {
        string? name;
        if (fields.TryGetValue(Fields.Name, out var element))
        {
            name = ExpectString(element, Fields.Name, errors);
            if (name is null)
            {
                return null;
            }
        }
        else
        {
            name = fileName.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? fileName[..^5] : fileName;
        }

        if (!NamePattern().IsMatch(name))
        {
            var origin = element.ValueKind == JsonValueKind.Undefined ? $" (taken from the file name \"{fileName}\"; set \"name\" explicitly)" : "";
            errors.Add(Fields.Name, $"must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-'{origin}");
            return null;
        }

        return name;
    }

    private static WireProtocol? ParseType(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        if (!fields.TryGetValue(Fields.Type, out var element))
        {
            errors.Add(Fields.Type, "required; one of: anthropic, openai, responses, gemini");
            return null;
        }

        var value = ExpectString(element, Fields.Type, errors);
        switch (value)
        {
            case null:
                return null;
            case "anthropic":
                return WireProtocol.Anthropic;
            case "openai":
                return WireProtocol.OpenAI;
            case "responses":
                return WireProtocol.Responses;
            case "gemini":
                return WireProtocol.Gemini;
            default:
                errors.Add(Fields.Type, $"unknown type \"{value}\"; one of: anthropic, openai, responses, gemini");
                return null;
        }
    }

    private static bool IsAnthropicApi(Uri url) => url.Host.Equals("api.anthropic.com", StringComparison.OrdinalIgnoreCase);

    private static string ParseMaxTokensField(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        const string Fallback = "max_tokens";
        if (!fields.TryGetValue(Fields.MaxTokensField, out var element))
        {
            return Fallback;
        }

        var value = ExpectString(element, Fields.MaxTokensField, errors);
        if (value is null or "max_tokens" or "max_completion_tokens")
        {
            return value ?? Fallback;
        }

        errors.Add(Fields.MaxTokensField, $"unknown value \"{value}\"; one of: max_tokens, max_completion_tokens");
        return Fallback;
    }

    private static UpstreamAuth ParseAuth(Dictionary<string, JsonElement> fields, WireProtocol? type, ErrorList errors)
    {
        var fallback = type switch
        {
            WireProtocol.OpenAI or WireProtocol.Responses => UpstreamAuth.Bearer,
            WireProtocol.Gemini => UpstreamAuth.GoogApiKey,
            _ => UpstreamAuth.XApiKey,
        };
        if (!fields.TryGetValue(Fields.Auth, out var element))
        {
            return fallback;
        }

        var value = ExpectString(element, Fields.Auth, errors);
        switch (value)
        {
            case null:
                return fallback;
            case "x-api-key":
                return UpstreamAuth.XApiKey;
            case "bearer":
                return UpstreamAuth.Bearer;
            case "x-goog-api-key":
                return UpstreamAuth.GoogApiKey;
            default:
                errors.Add(Fields.Auth, $"unknown auth \"{value}\"; one of: x-api-key, bearer, x-goog-api-key");
                return fallback;
        }
    }

    private static List<Uri>? ParseBaseUrls(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        var hasOne = fields.TryGetValue(Fields.BaseUrl, out var one);
        var hasMany = fields.TryGetValue(Fields.BaseUrls, out var many);
        if (hasOne && hasMany)
        {
            errors.Add(Fields.BaseUrls, "give either \"baseUrl\" or \"baseUrls\", not both");
            return null;
        }

        if (!hasOne && !hasMany)
        {
            errors.Add(Fields.BaseUrl, "required (\"baseUrl\": a URL, or \"baseUrls\": an array of URLs)");
            return null;
        }

        if (hasOne)
        {
            var text = ExpectString(one, Fields.BaseUrl, errors);
            var uri = text is null ? null : ParseBaseUrl(text, Fields.BaseUrl, errors);
            return uri is null ? null : [uri];
        }

        var items = ExpectStringArray(many, Fields.BaseUrls, errors);
        if (items is null)
        {
            return null;
        }

        var result = new List<Uri>();
        var ok = true;
        for (var i = 0; i < items.Count; i++)
        {
            var field = $"{Fields.BaseUrls}[{i}]";
            var uri = items[i] is { } text ? ParseBaseUrl(text, field, errors) : null;
            if (uri is null)
            {
                ok = false;
            }
            else if (result.Contains(uri))
            {
                errors.Add(field, "duplicate URL");
                ok = false;
            }
            else
            {
                result.Add(uri);
            }
        }

        return ok ? result : null;
    }

    private static Uri? ParseBaseUrl(string text, string field, ErrorList errors)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            // Echo the value only when it cannot hold a user-info password.
            var shown = text.Contains('@', StringComparison.Ordinal) ? "" : $", got \"{text}\"";
            errors.Add(field, $"must be an absolute http or https URL{shown}");
            return null;
        }

        var ok = true;
        if (uri.UserInfo.Length > 0)
        {
            // Do not echo the URL: user-info may hold a password.
            errors.Add(field, "must not contain user info (user:password@); put keys in \"apiKeys\"");
            ok = false;
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || text.Contains('?', StringComparison.Ordinal) || text.Contains('#', StringComparison.Ordinal))
        {
            errors.Add(field, "must not contain a query or fragment");
            ok = false;
        }

        if (!ok)
        {
            return null;
        }

        var normalized = uri.GetLeftPart(UriPartial.Path).TrimEnd('/');
        return new Uri(normalized, UriKind.Absolute);
    }

    private static List<UpstreamKey>? ParseApiKeys(Dictionary<string, JsonElement> fields, Func<string, string?> environment, ErrorList errors)
    {
        if (!fields.TryGetValue(Fields.ApiKeys, out var element))
        {
            errors.Add(Fields.ApiKeys, "required: an array of at least one key (or \"env:NAME\")");
            return null;
        }

        var items = ExpectStringArray(element, Fields.ApiKeys, errors);
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            errors.Add(Fields.ApiKeys, "must list at least one key");
            return null;
        }

        var keys = new List<UpstreamKey>(items.Count);
        var ok = true;
        for (var i = 0; i < items.Count; i++)
        {
            var field = $"{Fields.ApiKeys}[{i}]";
            var value = items[i] is { } raw ? ResolveValue(raw, field, environment, errors) : null;
            if (value is null)
            {
                ok = false;
                continue;
            }

            if (value.Any(char.IsWhiteSpace) || value.Any(char.IsControl))
            {
                errors.Add(field, "must not contain whitespace or control characters");
                ok = false;
                continue;
            }

            var duplicate = keys.FindIndex(k => k.Value == value);
            if (duplicate >= 0)
            {
                errors.Add(field, $"duplicate key (same as {Fields.ApiKeys}[{duplicate}])");
                ok = false;
                continue;
            }

            keys.Add(new UpstreamKey(value));
        }

        return ok ? keys : null;
    }

    /// <summary>Resolves <c>env:NAME</c>; otherwise returns the literal. Null (with an error) when empty or unset.</summary>
    private static string? ResolveValue(string raw, string field, Func<string, string?>? environment, ErrorList errors)
    {
        if (environment is not null && raw.StartsWith(EnvironmentPrefix, StringComparison.Ordinal))
        {
            var variable = raw[EnvironmentPrefix.Length..];
            if (variable.Length == 0)
            {
                errors.Add(field, "\"env:\" needs a variable name, as in \"env:ANTHROPIC_KEY\"");
                return null;
            }

            var value = environment(variable);
            if (string.IsNullOrEmpty(value))
            {
                errors.Add(field, $"environment variable {variable} is not set or empty");
                return null;
            }

            return value;
        }

        if (raw.Length == 0)
        {
            errors.Add(field, "must not be empty");
            return null;
        }

        return raw;
    }

    private static List<string>? ParseModels(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        if (!fields.TryGetValue(Fields.Models, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var items = ExpectStringArray(element, Fields.Models, errors);
        if (items is null)
        {
            return null;
        }

        if (items.Count == 0)
        {
            errors.Add(Fields.Models, "must not be empty; omit the field (or set null) to serve every model");
            return null;
        }

        var result = new List<string>();
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is { Length: > 0 } pattern)
            {
                result.Add(pattern);
            }
            else if (items[i] is not null)
            {
                errors.Add($"{Fields.Models}[{i}]", "must not be empty");
            }
        }

        return result;
    }

    private static List<string> ParseGroups(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        List<string> fallback = ["default"];
        if (!fields.TryGetValue(Fields.Groups, out var element))
        {
            return fallback;
        }

        var items = ExpectStringArray(element, Fields.Groups, errors);
        if (items is null)
        {
            return fallback;
        }

        if (items.Count == 0)
        {
            errors.Add(Fields.Groups, "must list at least one group; omit the field for [\"default\"]");
            return fallback;
        }

        var result = new List<string>();
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is null)
            {
                continue;
            }

            if (string.IsNullOrWhiteSpace(items[i]))
            {
                errors.Add($"{Fields.Groups}[{i}]", "must not be empty");
            }
            else if (!result.Contains(items[i]!, StringComparer.Ordinal))
            {
                result.Add(items[i]!);
            }
        }

        return result;
    }

    private static Dictionary<string, string> ParseStringMap(Dictionary<string, JsonElement> fields, string field, ErrorList errors, Func<string, string?>? environment)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!fields.TryGetValue(field, out var element))
        {
            return result;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(field, $"expected an object of string values, found {Describe(element.ValueKind)}");
            return result;
        }

        var isHeaders = field == Fields.Headers;
        foreach (var property in element.EnumerateObject())
        {
            var path = $"{field}.{property.Name}";
            if (property.Name.Length == 0)
            {
                errors.Add(path, "key must not be empty");
                continue;
            }

            if (isHeaders)
            {
                if (!HeaderNamePattern().IsMatch(property.Name))
                {
                    errors.Add(path, "not a valid HTTP header name");
                    continue;
                }

                if (ForbiddenHeaders.Contains(property.Name))
                {
                    errors.Add(path, "this header may not be set here (hop-by-hop, Host, Content-Length, or an auth header: auth comes from \"apiKeys\" and \"auth\")");
                    continue;
                }
            }

            if (property.Value.ValueKind != JsonValueKind.String)
            {
                errors.Add(path, $"expected a string, found {Describe(property.Value.ValueKind)}");
                continue;
            }

            var value = ResolveValue(property.Value.GetString()!, path, environment, errors);
            if (value is null)
            {
                continue;
            }

            if (isHeaders && value.Any(static c => c is '\r' or '\n' or '\0'))
            {
                errors.Add(path, "value must not contain CR, LF or NUL");
                continue;
            }

            if (!result.TryAdd(property.Name, value))
            {
                errors.Add(path, "duplicate key (keys are case-insensitive)");
            }
        }

        return result;
    }

    private static ChannelTimeouts ParseTimeouts(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        var timeouts = new ChannelTimeouts();
        if (!fields.TryGetValue(Fields.Timeouts, out var element))
        {
            return timeouts;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(Fields.Timeouts, $"expected an object with connect, responseHeaders, firstContent, idle (seconds), found {Describe(element.ValueKind)}");
            return timeouts;
        }

        foreach (var property in element.EnumerateObject())
        {
            var path = $"{Fields.Timeouts}.{property.Name}";
            if (Array.IndexOf(KnownTimeoutFields, property.Name) < 0)
            {
                errors.Add(path, "unknown field; known fields are: " + string.Join(", ", KnownTimeoutFields));
                continue;
            }

            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetDouble(out var seconds))
            {
                errors.Add(path, $"expected a number of seconds, found {Describe(property.Value.ValueKind)}");
                continue;
            }

            if (!(seconds > 0) || seconds > MaxTimeoutSeconds)
            {
                errors.Add(path, $"must be more than 0 and at most {MaxTimeoutSeconds.ToString(CultureInfo.InvariantCulture)} seconds");
                continue;
            }

            var value = TimeSpan.FromSeconds(seconds);
            timeouts = property.Name switch
            {
                Fields.Connect => timeouts with { Connect = value },
                Fields.ResponseHeaders => timeouts with { ResponseHeaders = value },
                Fields.FirstContent => timeouts with { FirstContent = value },
                _ => timeouts with { Idle = value },
            };
        }

        return timeouts;
    }

    private static int? ParseMaxTokens(Dictionary<string, JsonElement> fields, ErrorList errors)
    {
        if (!fields.TryGetValue(Fields.MaxTokens, out var element) || element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return ParseInt(fields, Fields.MaxTokens, 0, 1, int.MaxValue, errors) is var value && value >= 1 ? value : null;
    }

    private static int ParseInt(Dictionary<string, JsonElement> fields, string field, int fallback, int min, int max, ErrorList errors)
    {
        if (!fields.TryGetValue(field, out var element))
        {
            return fallback;
        }

        if (element.ValueKind != JsonValueKind.Number || !element.TryGetInt32(out var value))
        {
            errors.Add(field, element.ValueKind == JsonValueKind.Number ? "expected an integer" : $"expected an integer, found {Describe(element.ValueKind)}");
            return fallback;
        }

        if (value < min || value > max)
        {
            errors.Add(field, max == int.MaxValue ? $"must be at least {min}" : $"must be between {min} and {max}");
            return fallback;
        }

        return value;
    }

    /// <summary>
    /// <c>caCertificates</c>: PEM files of extra CAs to trust, read now. A file that is missing, empty, not PEM
    /// certificates, or holds a private key is an error (a private key there means the wrong file was mounted).
    /// </summary>
    private static (IReadOnlyList<string> Files, string? Pem) ParseCaCertificates(Dictionary<string, JsonElement> fields, string directory, ErrorList errors, List<(string Path, byte[]? Content)> referenced)
    {
        if (!fields.TryGetValue(Fields.CaCertificates, out var element) || ExpectStringArray(element, Fields.CaCertificates, errors) is not { } entries)
        {
            return ([], null);
        }

        var files = new List<string>();
        var pem = new System.Text.StringBuilder();
        for (var i = 0; i < entries.Count; i++)
        {
            var field = $"{Fields.CaCertificates}[{i}]";
            if (entries[i] is not { } entry)
            {
                continue;
            }

            if (string.IsNullOrWhiteSpace(entry))
            {
                errors.Add(field, "must be the path of a PEM file");
                continue;
            }

            var path = Path.GetFullPath(entry, directory);
            // What is read here is what the watcher's hash covers (ReadReferenced), so a file swapped between two
            // reads cannot leave the old certificate live under the new file's hash.
            var (bytes, problem) = ReadReferenced(path);
            referenced.Add((path, bytes));
            if (bytes is null)
            {
                errors.Add(field, $"cannot read {path}: {problem}");
                continue;
            }

            if (bytes.Length > MaxCaFileBytes)
            {
                errors.Add(field, $"{path} is larger than {MaxCaFileBytes} bytes");
                continue;
            }

            // As File.ReadAllText would: a UTF-8 byte order mark (editors on Windows write one) is not text.
            var text = System.Text.Encoding.UTF8.GetString(bytes.AsSpan().StartsWith("\uFEFF"u8) ? bytes.AsSpan(3) : bytes);

            if (text.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
            {
                errors.Add(field, $"{path} holds a private key; give only the CA's certificate");
                continue;
            }

            var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            try
            {
                certificates.ImportFromPem(text);
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                errors.Add(field, $"{path} is not valid PEM: {FirstSentence(ex.Message)}");
                continue;
            }

            if (certificates.Count == 0)
            {
                errors.Add(field, $"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
                continue;
            }

            foreach (var certificate in certificates)
            {
                pem.Append(certificate.ExportCertificatePem()).Append('\n');
                certificate.Dispose();
            }

            files.Add(path);
        }

        return (files, pem.Length == 0 ? null : pem.ToString());
    }

    /// <summary>
    /// A digest of the files a channel file names, read now (at most one byte over the size limit each), in the
    /// form <see cref="ChannelParseResult.ReferencedDigest"/> holds: the watcher compares the two to notice a
    /// rotated CA file. Empty when there are none.
    /// </summary>
    /// <param name="paths">The full paths (<see cref="ChannelParseResult.ReferencedFiles"/>).</param>
    /// <returns>The digest.</returns>
    public static string DigestReferencedFiles(IReadOnlyList<string> paths) =>
        paths.Count == 0 ? "" : Digest([.. paths.Select(static path => (path, ReadReferenced(path).Content))]);

    private static (byte[]? Content, string? Problem) ReadReferenced(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var buffer = new byte[(int)Math.Min(stream.Length, MaxCaFileBytes) + 1];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return (buffer[..read], null);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, FirstSentence(ex.Message));
        }
    }

    private static string Digest(List<(string Path, byte[]? Content)> files)
    {
        if (files.Count == 0)
        {
            return "";
        }

        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (_, content) in files)
        {
            hash.AppendData(content is null ? "(unreadable)"u8 : System.Security.Cryptography.SHA256.HashData(content));
        }

        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private static bool ParseBool(Dictionary<string, JsonElement> fields, string field, bool fallback, ErrorList errors)
    {
        if (!fields.TryGetValue(field, out var element))
        {
            return fallback;
        }

        switch (element.ValueKind)
        {
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                errors.Add(field, $"expected true or false, found {Describe(element.ValueKind)}");
                return fallback;
        }
    }

    private static string? ExpectString(JsonElement element, string field, ErrorList errors)
    {
        if (element.ValueKind == JsonValueKind.String)
        {
            return element.GetString();
        }

        errors.Add(field, $"expected a string, found {Describe(element.ValueKind)}");
        return null;
    }

    /// <summary>An array whose non-string items are reported and returned as null, so indexes stay right.</summary>
    private static List<string?>? ExpectStringArray(JsonElement element, string field, ErrorList errors)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            errors.Add(field, $"expected an array of strings, found {Describe(element.ValueKind)}");
            return null;
        }

        var result = new List<string?>();
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                result.Add(item.GetString());
            }
            else
            {
                errors.Add($"{field}[{index}]", $"expected a string, found {Describe(item.ValueKind)}");
                result.Add(null);
            }

            index++;
        }

        return result;
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    private sealed class ErrorList(string file)
    {
        private readonly List<ChannelConfigError> _errors = [];

        public int Count => _errors.Count;

        public void Add(string field, string message) => _errors.Add(new ChannelConfigError(file, field, message));

        public List<ChannelConfigError> ToList() => _errors;
    }
}
