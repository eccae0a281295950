using System.Text.Json;

namespace CcxProxy.Transforms.Conversion;

/// <summary>An OpenAI tool call's <c>arguments</c> string as the <c>input</c> object Anthropic requires.</summary>
public static class ToolArguments
{
    /// <summary>
    /// Writes the value of <c>input</c>. Empty → <c>{}</c>; a JSON object → as is; anything else (invalid JSON, a
    /// non-object) → <c>{"raw_arguments": "&lt;the string&gt;"}</c>: input must be an object, and dropping the call would
    /// orphan its tool_result (docs/protocols.md §8 #10), while <c>{}</c> would hide what the model really sent.
    /// </summary>
    /// <param name="json">The writer, on the property's value.</param>
    /// <param name="arguments">The arguments string; null or blank for none.</param>
    public static void WriteAsInput(Utf8JsonWriter json, string? arguments)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (string.IsNullOrWhiteSpace(arguments))
        {
            json.WriteStartObject();
            json.WriteEndObject();
            return;
        }

        try
        {
            using var parsed = JsonDocument.Parse(arguments);
            if (parsed.RootElement.ValueKind == JsonValueKind.Object)
            {
                parsed.RootElement.WriteTo(json);
                return;
            }
        }
        catch (JsonException)
        {
        }

        json.WriteStartObject();
        json.WriteString("raw_arguments"u8, arguments);
        json.WriteEndObject();
    }
}
