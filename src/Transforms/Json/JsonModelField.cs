using System.Text.Json;

namespace CcxProxy.Transforms.Json;

/// <summary>
/// Reads and replaces the top-level <c>"model"</c> string of a JSON document without re-serialising
/// the rest: the other bytes are kept exactly as the client sent them (thinking signatures, key order,
/// number formats), and the document is parsed once, by a forward-only <see cref="Utf8JsonReader"/>.
/// </summary>
public static class JsonModelField
{
    /// <summary>
    /// Validates <paramref name="json"/> as one JSON object and finds its top-level <c>model</c> string.
    /// </summary>
    /// <param name="json">The UTF-8 request or response body.</param>
    /// <returns>The scan result; <see cref="ModelScan.Error"/> says why a body is not usable.</returns>
    public static ModelScan Scan(ReadOnlySpan<byte> json)
    {
        if (json.IsEmpty)
        {
            return ModelScan.Failed("the request body is empty: send a JSON object");
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ModelScan.Failed("the request body must be a JSON object");
            }

            string? model = null;
            var valueStart = -1;
            var valueLength = 0;
            var modelIsString = false;
            var sawModel = false;
            while (reader.Read())
            {
                if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    break;
                }

                // At depth 1 we are on a property name; read its value and skip containers whole.
                var isModel = reader.ValueTextEquals("model"u8);
                reader.Read();
                if (isModel)
                {
                    sawModel = true;
                    modelIsString = reader.TokenType == JsonTokenType.String;
                    if (modelIsString)
                    {
                        model = reader.GetString();
                        valueStart = (int)reader.TokenStartIndex;
                        valueLength = (int)(reader.BytesConsumed - reader.TokenStartIndex);
                    }
                }

                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }
            }

            // Anything after the closing brace other than whitespace makes this read throw.
            reader.Read();

            if (!sawModel)
            {
                return ModelScan.Failed("model: field required");
            }

            if (!modelIsString || string.IsNullOrWhiteSpace(model))
            {
                return ModelScan.Failed("model: must be a non-empty string");
            }

            return new ModelScan(model, valueStart, valueLength, null);
        }
        catch (JsonException ex)
        {
            return ModelScan.Failed($"malformed JSON: {Describe(ex)}");
        }
    }

    /// <summary>Returns a copy of <paramref name="json"/> whose model value (found by <see cref="Scan"/>) is <paramref name="newModel"/>.</summary>
    public static byte[] Replace(ReadOnlySpan<byte> json, in ModelScan scan, string newModel)
    {
        if (scan.Model is null)
        {
            throw new ArgumentException("the scan found no model", nameof(scan));
        }

        var encoded = JsonEncodedText.Encode(newModel);
        var quotedLength = encoded.EncodedUtf8Bytes.Length + 2;
        var result = new byte[json.Length - scan.ValueLength + quotedLength];
        json[..scan.ValueStart].CopyTo(result);
        var at = scan.ValueStart;
        result[at++] = (byte)'"';
        encoded.EncodedUtf8Bytes.CopyTo(result.AsSpan(at));
        at += encoded.EncodedUtf8Bytes.Length;
        result[at++] = (byte)'"';
        json[(scan.ValueStart + scan.ValueLength)..].CopyTo(result.AsSpan(at));
        return result;
    }

    /// <summary>Replaces the model when the body has one; otherwise returns the body unchanged.</summary>
    public static ReadOnlyMemory<byte> ReplaceIfPresent(ReadOnlyMemory<byte> json, string newModel)
    {
        var scan = Scan(json.Span);
        return scan.Model is null || scan.Model == newModel ? json : Replace(json.Span, scan, newModel);
    }

    private static string Describe(JsonException ex) =>
        ex.LineNumber is { } line
            ? $"{FirstSentence(ex.Message)} (line {line + 1}, position {ex.BytePositionInLine + 1})"
            : FirstSentence(ex.Message);

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" LineNumber", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd();
    }
}

/// <summary>The result of <see cref="JsonModelField.Scan"/>.</summary>
/// <param name="Model">The model name, or null when the body is unusable.</param>
/// <param name="ValueStart">Offset of the model's JSON string token (its opening quote).</param>
/// <param name="ValueLength">Length of that token in bytes, quotes included.</param>
/// <param name="Error">Why the body is unusable, phrased for the caller; null when usable.</param>
public readonly record struct ModelScan(string? Model, int ValueStart, int ValueLength, string? Error)
{
    internal static ModelScan Failed(string error) => new(null, -1, 0, error);
}
