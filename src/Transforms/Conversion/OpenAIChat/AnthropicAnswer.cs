using System.Text;
using System.Text.Json;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// One non-streamed Anthropic message, reduced to what an OpenAI answer can carry: the text of every text
/// block joined (not just the last one: §8 #34), thinking text, tool calls in order, stop reason, usage.
/// </summary>
internal sealed class AnthropicAnswer
{
    private AnthropicAnswer()
    {
    }

    public string? Id { get; private set; }

    /// <summary>All text blocks, concatenated in order; null when there were none.</summary>
    public string? Text { get; private set; }

    /// <summary>All thinking blocks, concatenated; null when there were none. Redacted thinking is dropped.</summary>
    public string? Reasoning { get; private set; }

    public List<(string Id, string Name, string ArgumentsJson)> ToolCalls { get; } = [];

    public string? StopReason { get; private set; }

    public StreamUsage Usage { get; } = new();

    /// <summary>Reads an Anthropic message object.</summary>
    /// <exception cref="JsonException">The body is not JSON, or not an Anthropic message.</exception>
    public static AnthropicAnswer Parse(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body);
        using var doc = JsonDocument.ParseValue(ref reader);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("The upstream answer is not an Anthropic message (no content array).");
        }

        var answer = new AnthropicAnswer { Id = OpenAIWire.GetString(root, "id"), StopReason = OpenAIWire.GetString(root, "stop_reason") };
        StringBuilder? text = null;
        StringBuilder? reasoning = null;
        foreach (var block in content.EnumerateArray())
        {
            switch (OpenAIWire.GetString(block, "type"))
            {
                case "text":
                    (text ??= new StringBuilder()).Append(OpenAIWire.GetString(block, "text"));
                    break;
                case "thinking":
                    (reasoning ??= new StringBuilder()).Append(OpenAIWire.GetString(block, "thinking"));
                    break;
                case "tool_use":
                    var input = block.TryGetProperty("input", out var i) && i.ValueKind == JsonValueKind.Object ? i.GetRawText() : "{}";
                    answer.ToolCalls.Add((OpenAIWire.GetString(block, "id") ?? "toolu_" + OpenAIWire.RandomSuffix(), OpenAIWire.GetString(block, "name") ?? string.Empty, input));
                    break;
                default:
                    // redacted_thinking (opaque, no OpenAI home), server tool blocks: nothing an OpenAI client can use.
                    break;
            }
        }

        answer.Text = text?.ToString();
        answer.Reasoning = reasoning?.ToString();
        if (root.TryGetProperty("usage", out var usage))
        {
            OpenAIWire.ReadAnthropicUsage(usage, answer.Usage);
        }

        return answer;
    }
}
