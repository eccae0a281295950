using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
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
    /// <c>generationConfig.maxOutputTokens</c>) lowered to the channel's <c>maxTokens</c> when it asks for more; the same
    /// memory, unread, when the channel sets no limit or the body does not name the field (the common cases).
    /// </summary>
    /// <param name="body">The client's body.</param>
    /// <param name="limit">The channel's limit; null for none.</param>
    /// <param name="path">The field's names from the top, each with the name it may also go by (Gemini's snake_case), or null.</param>
    public static ReadOnlyMemory<byte> ClampOutputTokens(ReadOnlyMemory<byte> body, int? limit, params (string Name, string? Alias)[] path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (last, lastAlias) = path[^1];
        if (limit is not { } max || (body.Span.IndexOf(Encoding.UTF8.GetBytes(last)) < 0 && (lastAlias is null || body.Span.IndexOf(Encoding.UTF8.GetBytes(lastAlias)) < 0)))
        {
            return body;
        }

        try
        {
            var node = JsonNode.Parse(body.Span);
            var parent = node as JsonObject;
            foreach (var (name, alias) in path[..^1])
            {
                parent = (parent?[name] ?? (alias is null ? null : parent?[alias])) as JsonObject;
            }

            var key = parent?.ContainsKey(last) == true ? last : lastAlias is not null && parent?.ContainsKey(lastAlias) == true ? lastAlias : null;
            if (key is null || parent![key] is not JsonValue value || !value.TryGetValue<long>(out var asked) || asked <= max)
            {
                return body;
            }

            parent[key] = max;
            // Strings as readable as the client wrote them (base64 signatures with '+' and '/').
            return JsonSerializer.SerializeToUtf8Bytes(node, OpenAIChat.OpenAIWire.JsonOptions);
        }
        catch (JsonException)
        {
            // Not JSON this route can edit: forwarded as sent, and the upstream judges it.
            return body;
        }
    }
}
