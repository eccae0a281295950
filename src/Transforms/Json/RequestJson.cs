using System.Globalization;
using System.Text.Json;
using System.Text;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Json;

/// <summary>
/// Reads and rewrites the top-level <c>model</c> and <c>max_tokens</c> of a JSON request (or the
/// <c>model</c> of a JSON response) without re-serialising the rest: every other byte is kept exactly
/// as the client sent it (thinking signatures, key order, number formats), and the document is parsed
/// once, by a forward-only <see cref="Utf8JsonReader"/> that also validates it.
/// </summary>
public static class RequestJson
{
    /// <summary>The longest model name accepted (provider names are far shorter); longer ones are refused, never stored or logged.</summary>
    public const int MaxModelLength = 256;

    /// <summary>Validates <paramref name="json"/> as one JSON object and finds its top-level fields.</summary>
    /// <returns>The scan, or the 400 that says why the body is not a usable request.</returns>
    public static GatewayResult<RequestScan> Scan(ReadOnlySpan<byte> json) =>
        Read(json, out var scan, strict: true) is { } refusal ? new GatewayError(400, refusal) : scan;

    /// <summary>
    /// As <see cref="Scan(ReadOnlySpan{byte})"/>, for APIs that name the model in the URL (Gemini's
    /// <c>/v1beta/models/{model}:generateContent</c>): <paramref name="pathModel"/> is the model, checked as a body's
    /// would be, and the body needs none.
    /// </summary>
    /// <param name="json">The request body.</param>
    /// <param name="pathModel">The model the URL names.</param>
    public static GatewayResult<RequestScan> Scan(ReadOnlySpan<byte> json, string pathModel) =>
        Read(json, out var scan, strict: true, pathModel) is { } refusal ? new GatewayError(400, refusal) : scan;

    /// <summary>
    /// As <see cref="Scan(ReadOnlySpan{byte})"/>, for the paths that scan every streamed chunk of an answer and only ask where its model is:
    /// a refusal costs no error object, and top-level names are not checked for duplicates (that check guards what a
    /// caller sends, and costs a set and a string per name).
    /// </summary>
    /// <returns>True with the scan; false when the body is not one JSON object with a model.</returns>
    public static bool TryScan(ReadOnlySpan<byte> json, out RequestScan scan) => Read(json, out scan, strict: false) is null;

    // The scan, or why the body is not a usable request (the caller's 400). Strict: duplicate top-level names refused.
    private static string? Read(ReadOnlySpan<byte> json, out RequestScan scan, bool strict, string? pathModel = null)
    {
        scan = default;
        if (json.IsEmpty)
        {
            return "the request body is empty: send a JSON object";
        }

        // The reader checks UTF-8 only when a string is read as text: check the whole body once, up front, so
        // no bad byte reaches an upstream or a converter.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            return $"the request body is not valid UTF-8 (at byte {FirstInvalidUtf8(json)})";
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return "the request body must be a JSON object";
            }

            var sawModel = pathModel is not null;
            var model = pathModel;
            var modelRange = default(Range);
            long? maxTokens = null;
            var maxTokensRange = default(Range);
            var stream = false;
            var includeUsage = false;
            var storeFalse = false;
            var continues = false;
            Range? attribution = null;
            // Top-level names seen: a second "model" would be checked here as one value and read upstream as another.
            var names = strict ? new HashSet<string>(StringComparer.Ordinal) : null;
            while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0))
            {
                if (names is not null)
                {
                    if (!TryGetText(ref reader, out var name))
                    {
                        return "a top-level field name is not valid Unicode text (it holds an unpaired surrogate)";
                    }

                    if (!names.Add(name))
                    {
                        return $"duplicate top-level field \"{Shorten(name)}\": send each field once";
                    }
                }

                // At depth 1 we are on a property name: read its value, skip containers whole.
                var isModel = pathModel is null && Is(ref reader, "model"u8);
                var isMaxTokens = Is(ref reader, "max_tokens"u8);
                var isStream = Is(ref reader, "stream"u8);
                var isStreamOptions = Is(ref reader, "stream_options"u8);
                var isSystem = Is(ref reader, "system"u8);
                var isStore = Is(ref reader, "store"u8);
                var isPrevious = Is(ref reader, "previous_response_id"u8);
                reader.Read();
                var token = new Range((int)reader.TokenStartIndex, (int)reader.BytesConsumed);
                if (isModel)
                {
                    sawModel = true;
                    if (reader.TokenType == JsonTokenType.String && !TryGetText(ref reader, out model))
                    {
                        return "model: must be valid Unicode text (it holds an unpaired surrogate)";
                    }

                    modelRange = token;
                }
                else if (isMaxTokens && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
                {
                    maxTokens = value;
                    maxTokensRange = token;
                }

                else if (isStream)
                {
                    stream = reader.TokenType == JsonTokenType.True;
                }
                else if (isStore)
                {
                    storeFalse = reader.TokenType == JsonTokenType.False;
                }
                else if (isPrevious)
                {
                    continues = reader.TokenType != JsonTokenType.Null;
                }
                else if (isStreamOptions && reader.TokenType == JsonTokenType.StartObject)
                {
                    includeUsage = ReadIncludeUsage(ref reader);
                    continue;
                }
                else if (isSystem && reader.TokenType == JsonTokenType.StartArray)
                {
                    attribution = FindAttributionBlock(ref reader);
                    continue;
                }

                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }

            // Anything but whitespace after the closing brace makes this read throw.
            reader.Read();

            if (!sawModel)
            {
                return "model: field required";
            }

            if (string.IsNullOrWhiteSpace(model))
            {
                return "model: must be a non-empty string";
            }

            if (model.Length > MaxModelLength)
            {
                return $"model: longer than {MaxModelLength} characters";
            }

            scan = new RequestScan(model, modelRange, maxTokens, maxTokensRange)
            {
                Stream = stream,
                IncludeUsage = includeUsage,
                AttributionBlock = attribution,
                StoreFalse = storeFalse,
                ContinuesResponse = continues,
            };
            return null;
        }
        catch (JsonException ex)
        {
            return $"malformed JSON: {Describe(ex)}";
        }
    }

    /// <summary>
    /// A copy of <paramref name="json"/> with the model (and, when given, <c>max_tokens</c>) replaced;
    /// <paramref name="json"/> itself when nothing changes.
    /// </summary>
    public static ReadOnlyMemory<byte> Rewrite(ReadOnlyMemory<byte> json, in RequestScan scan, string model, long? maxTokens = null, bool dropAttribution = false)
    {
        if (scan.Model is null)
        {
            throw new ArgumentException("the scan found no model", nameof(scan));
        }

        var edits = new List<(Range Range, byte[] Value)>(2);

        // A model named in the URL (Gemini's) has no place in the body: an empty range, and nothing to replace there.
        if (model != scan.Model && scan.ModelRange.End.Value > scan.ModelRange.Start.Value)
        {
            edits.Add((scan.ModelRange, Quoted(model)));
        }

        if (maxTokens is { } max && scan.MaxTokens is not null && max != scan.MaxTokens)
        {
            edits.Add((scan.MaxTokensRange, Encoding.ASCII.GetBytes(max.ToString(CultureInfo.InvariantCulture))));
        }

        if (dropAttribution && scan.AttributionBlock is { } block)
        {
            edits.Add((WithComma(json.Span, block), []));
        }

        return edits.Count == 0 ? json : Splice(json.Span, edits);
    }

    /// <summary>The text Claude Code's per-request attribution block starts with.</summary>
    public const string AttributionPrefix = "x-anthropic-billing-header:";

    // Inside "stream_options": {...}; leaves the reader on the object's EndObject.
    private static bool ReadIncludeUsage(ref Utf8JsonReader reader)
    {
        var depth = reader.CurrentDepth;
        var includeUsage = false;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            var isIncludeUsage = Is(ref reader, "include_usage"u8);
            reader.Read();
            includeUsage |= isIncludeUsage && reader.TokenType == JsonTokenType.True;
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }

        return includeUsage;
    }

    // Inside "system": [...]: the range of the first text block whose text starts with the attribution
    // prefix. Leaves the reader on the array's EndArray.
    private static Range? FindAttributionBlock(ref Utf8JsonReader reader)
    {
        Range? found = null;
        var arrayDepth = reader.CurrentDepth;
        while (reader.Read() && reader.CurrentDepth > arrayDepth)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                continue;
            }

            var start = (int)reader.TokenStartIndex;
            var isText = false;
            var isAttribution = false;
            var objectDepth = reader.CurrentDepth;
            while (reader.Read() && reader.CurrentDepth > objectDepth)
            {
                var isType = Is(ref reader, "type"u8);
                var isTextField = Is(ref reader, "text"u8);
                reader.Read();
                if (isType && reader.TokenType == JsonTokenType.String)
                {
                    isText = Is(ref reader, "text"u8);
                }
                else if (isTextField && reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped)
                {
                    isAttribution = reader.ValueSpan.StartsWith("x-anthropic-billing-header:"u8);
                }
                else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }

            if (found is null && isText && isAttribution)
            {
                found = new Range(start, (int)reader.BytesConsumed);
            }
        }

        return found;
    }

    // An array element's range widened to take one separating comma with it, so the array stays valid.
    private static Range WithComma(ReadOnlySpan<byte> json, Range element)
    {
        var end = element.End.Value;
        var after = end;
        while (after < json.Length && json[after] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            after++;
        }

        if (after < json.Length && json[after] == (byte)',')
        {
            return new Range(element.Start, after + 1);
        }

        var before = element.Start.Value - 1;
        while (before >= 0 && json[before] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t')
        {
            before--;
        }

        return before >= 0 && json[before] == (byte)',' ? new Range(before, end) : element;
    }

    /// <summary>True when <paramref name="json"/> is exactly one well-formed JSON object.</summary>
    public static bool IsJsonObject(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            reader.Skip();
            reader.Read();
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Replaces a top-level <c>model</c> when the body has one (responses); otherwise returns it unchanged.</summary>
    public static ReadOnlyMemory<byte> ReplaceModelIfPresent(ReadOnlyMemory<byte> json, string model)
    {
        return TryScan(json.Span, out var scan) ? Rewrite(json, scan, model) : json;
    }

    private static byte[] Quoted(string value)
    {
        var encoded = JsonEncodedText.Encode(value).EncodedUtf8Bytes;
        var quoted = new byte[encoded.Length + 2];
        quoted[0] = quoted[^1] = (byte)'"';
        encoded.CopyTo(quoted.AsSpan(1));
        return quoted;
    }

    /// <summary>A copy of <paramref name="json"/> with each range replaced by its value (ranges that do not overlap, in any order).</summary>
    internal static byte[] Splice(ReadOnlySpan<byte> json, List<(Range Range, byte[] Value)> edits)
    {
        edits.Sort((a, b) => a.Range.Start.Value.CompareTo(b.Range.Start.Value));
        var length = json.Length;
        foreach (var (range, value) in edits)
        {
            length += value.Length - (range.End.Value - range.Start.Value);
        }

        var result = new byte[length];
        int from = 0, to = 0;
        foreach (var (range, value) in edits)
        {
            var keep = json[from..range.Start.Value];
            keep.CopyTo(result.AsSpan(to));
            to += keep.Length;
            value.CopyTo(result.AsSpan(to));
            to += value.Length;
            from = range.End.Value;
        }

        json[from..].CopyTo(result.AsSpan(to));
        return result;
    }

    /// <summary>
    /// <see cref="Utf8JsonReader.ValueTextEquals(ReadOnlySpan{byte})"/>, except that a token holding an unpaired surrogate
    /// escape (which it cannot unescape) equals nothing: the body is read as the client sent it, where such strings may appear.
    /// </summary>
    internal static bool Is(ref Utf8JsonReader reader, ReadOnlySpan<byte> text)
    {
        try
        {
            return reader.ValueTextEquals(text);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>The current string token as text; false when it holds an unpaired surrogate escape.</summary>
    internal static bool TryGetText(ref Utf8JsonReader reader, out string text)
    {
        try
        {
            text = reader.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> json)
    {
        var at = 0;
        while (at < json.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(json[at..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return at;
            }

            at += consumed;
        }

        return at;
    }

    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf(" LineNumber", StringComparison.Ordinal);
        message = (cut > 0 ? message[..cut] : message).TrimEnd();
        return ex.LineNumber is { } line ? $"{message} (line {line + 1}, position {ex.BytePositionInLine + 1})" : message;
    }
}

/// <summary>The result of <see cref="RequestJson.Scan(ReadOnlySpan{byte})"/>.</summary>
/// <param name="Model">The model name.</param>
/// <param name="ModelRange">Where the model's JSON token (quotes included) is in the body.</param>
/// <param name="MaxTokens">The top-level <c>max_tokens</c> when it is an integer; otherwise null.</param>
/// <param name="MaxTokensRange">Where that number is in the body.</param>
public readonly record struct RequestScan(string Model, Range ModelRange, long? MaxTokens, Range MaxTokensRange)
{
    /// <summary>True when the top-level <c>stream</c> is <c>true</c>.</summary>
    public bool Stream { get; init; }

    /// <summary>True when <c>stream_options.include_usage</c> is <c>true</c> (OpenAI clients).</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>Where Claude Code's attribution block is in <c>system</c>, when there is one.</summary>
    public Range? AttributionBlock { get; init; }

    /// <summary>True when the top-level <c>store</c> is <c>false</c> (an OpenAI Responses client asking that nothing be kept).</summary>
    public bool StoreFalse { get; init; }

    /// <summary>True when there is a top-level <c>previous_response_id</c> that is not null (an OpenAI Responses continuation).</summary>
    public bool ContinuesResponse { get; init; }

    /// <summary>
    /// A Gemini client's <c>streamGenerateContent</c> without <c>alt=sse</c>: its stream is one JSON array. Set by the
    /// host from the request's URL, as Gemini's <see cref="Model"/> and <see cref="Stream"/> are.
    /// </summary>
    public bool JsonArrayStream { get; init; }
}
