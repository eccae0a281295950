using System.Globalization;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Json;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>What every same-protocol route shares.</summary>
public static class Passthrough
{
    /// <summary>The max_tokens to write over the client's, when it asked for more than the channel allows; null to leave it.</summary>
    /// <param name="scan">The scan of the client's body.</param>
    /// <param name="options">The channel's choices.</param>
    public static int? Clamp(in RequestScan scan, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return scan.MaxTokens > options.MaxTokensLimit ? options.MaxTokensLimit : null;
    }

    /// <summary>
    /// The body with the output limit at <paramref name="path"/> (Responses' <c>max_output_tokens</c>, Gemini's
    /// <c>generationConfig.maxOutputTokens</c>) lowered to the channel's <c>maxTokens</c> wherever it asks for more,
    /// under either of its names; every other byte as the client sent it. The same memory, unread, when the channel
    /// sets no limit or the body does not name the field (the common cases).
    /// </summary>
    /// <param name="body">The client's body.</param>
    /// <param name="limit">The channel's limit; null for none.</param>
    /// <param name="path">The field's names from the top, each with the name it may also go by (Gemini's snake_case), or null.</param>
    public static ReadOnlyMemory<byte> ClampOutputTokens(ReadOnlyMemory<byte> body, int? limit, params (string Name, string? Alias)[] path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (limit is not { } max)
        {
            return body;
        }

        var names = Array.ConvertAll(path, static step => (Encoding.UTF8.GetBytes(step.Name), step.Alias is null ? null : Encoding.UTF8.GetBytes(step.Alias)));
        var (last, lastAlias) = names[^1];
        if (body.Span.IndexOf(last) < 0 && (lastAlias is null || body.Span.IndexOf(lastAlias) < 0))
        {
            return body;
        }

        var edits = new List<(Range Range, byte[] Value)>(1);
        try
        {
            var reader = new Utf8JsonReader(body.Span);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                FindOverLimit(ref reader, names, max, edits);
            }
        }
        catch (JsonException)
        {
            // Not JSON this route can edit: forwarded as sent, and the upstream judges it.
            return body;
        }

        return edits.Count == 0 ? body : RequestJson.Splice(body.Span, edits);
    }

    // On an object's StartObject; leaves the reader on its EndObject. Every value under path's names (a client may
    // send both spellings, or one twice) that asks for more than max becomes max: an upstream that reads either sees
    // no more than the channel allows. A number in any notation counts (1e6 is a million; one too large for a double
    // is over any limit), and so does a numeric string, which Google's JSON mapping reads as the number.
    private static void FindOverLimit(ref Utf8JsonReader reader, ReadOnlySpan<(byte[] Name, byte[]? Alias)> path, int max, List<(Range Range, byte[] Value)> edits)
    {
        var (name, alias) = path[0];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var matches = RequestJson.Is(ref reader, name) || (alias is not null && RequestJson.Is(ref reader, alias));
            reader.Read();
            if (matches && path.Length == 1 && AsksForMore(ref reader, max))
            {
                edits.Add((new Range((int)reader.TokenStartIndex, (int)reader.BytesConsumed), Encoding.ASCII.GetBytes(max.ToString(CultureInfo.InvariantCulture))));
            }
            else if (matches && path.Length > 1 && reader.TokenType == JsonTokenType.StartObject)
            {
                FindOverLimit(ref reader, path[1..], max, edits);
            }
            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                reader.Skip();
            }
        }
    }

    private static bool AsksForMore(ref Utf8JsonReader reader, int max) => reader.TokenType switch
    {
        // One too large for a double is over any limit, unless it is negative.
        JsonTokenType.Number => reader.TryGetDouble(out var asked) ? asked > max : reader.ValueSpan[0] != (byte)'-',
        JsonTokenType.String => RequestJson.TryGetText(ref reader, out var text)
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var asked) && asked > max,
        _ => false,
    };
}
