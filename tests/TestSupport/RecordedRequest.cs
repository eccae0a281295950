using System.Text.Json;
using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>A request as the fake upstream received it, body read in full.</summary>
/// <param name="Method">The HTTP method.</param>
/// <param name="Path">The path (path base included), e.g. <c>/v1/messages</c>.</param>
/// <param name="QueryString">The query string with its leading <c>?</c>, or empty.</param>
/// <param name="Headers">The headers, case-insensitive; repeated values joined with <c>", "</c>.</param>
/// <param name="Body">The body as UTF-8 text.</param>
public sealed record RecordedRequest(string Method, string Path, string QueryString, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The body parsed as JSON, or null when it is empty or not JSON.</summary>
    public JsonNode? Json { get; } = Parse(Body);

    /// <summary>The body's <c>model</c> string, or null.</summary>
    public string? Model => Json is JsonObject o && o["model"] is JsonValue v && v.TryGetValue(out string? model) ? model : null;

    /// <summary>Whether the body has <c>"stream": true</c>.</summary>
    public bool IsStream => Json is JsonObject o && o["stream"] is JsonValue v && v.TryGetValue(out bool stream) && stream;

    /// <summary>A header's value, or null when absent.</summary>
    /// <param name="name">The header name, any case.</param>
    /// <returns>The value.</returns>
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    private static JsonNode? Parse(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
