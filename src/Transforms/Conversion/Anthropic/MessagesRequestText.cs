using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;

namespace CcxProxy.Transforms.Conversion.Anthropic;

/// <summary>
/// The plain text of parts of a Messages request, for upstream protocols that take text where Anthropic takes
/// blocks (a Responses <c>instructions</c>, a Gemini <c>systemInstruction</c> or function response).
/// </summary>
internal static class MessagesRequestText
{
    /// <summary><c>system</c> as one text (its text blocks joined by a blank line); null when there is none.</summary>
    public static string? System(JsonElement request)
    {
        if (!request.TryGetProperty("system", out var system))
        {
            return null;
        }

        return system.ValueKind switch
        {
            JsonValueKind.String => system.GetString(),
            JsonValueKind.Array => string.Join("\n\n", system.EnumerateArray().Select(b => OpenAIWire.GetString(b, "text")).Where(t => !string.IsNullOrEmpty(t))),
            _ => null,
        };
    }

    /// <summary>A <c>tool_result</c>'s content as text: a string as it is, blocks' text joined by lines (other blocks named, <c>[image]</c>).</summary>
    public static string ToolResult(JsonElement content) => content.ValueKind switch
    {
        JsonValueKind.String => content.GetString()!,
        JsonValueKind.Array => string.Join("\n", content.EnumerateArray().Select(b => OpenAIWire.GetString(b, "type") == "text" ? OpenAIWire.GetString(b, "text") : "[" + OpenAIWire.GetString(b, "type") + "]")),
        _ => string.Empty,
    };
}
