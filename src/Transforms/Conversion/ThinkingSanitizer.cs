using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CcxProxy.Transforms.Conversion;

/// <summary>
/// Before a conversation reaches a real Anthropic upstream: removes the thinking blocks the gateway made
/// from another provider's reasoning (their signature is the <see cref="GatewayThinking"/> marker, which
/// Anthropic would reject), keeping Anthropic-signed blocks byte for byte. When the last assistant turn
/// loses its thinking, thinking is turned off for the request, since Anthropic requires that turn to
/// start with a valid thinking block while thinking is on (docs/protocols.md §7).
/// </summary>
public static class ThinkingSanitizer
{
    private static readonly byte[] s_marker = Encoding.UTF8.GetBytes(GatewayThinking.SignaturePrefix);

    // Signatures are base64: the default encoder would write '+' as \u002B. Keep them as the client sent them.
    private static readonly JsonSerializerOptions s_output = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The body without gateway-made thinking; the same memory when it has none (the common case, found without parsing).</summary>
    public static ReadOnlyMemory<byte> StripGatewayThinking(ReadOnlyMemory<byte> body)
    {
        if (body.Span.IndexOf(s_marker) < 0)
        {
            return body;
        }

        try
        {
            return Strip(body);
        }
        catch (InvalidOperationException) when (CcxProxy.Transforms.Json.LoneSurrogates.Replace(body) is var readable && !readable.Equals(body))
        {
            // A lone surrogate (a string a Node client cut mid-emoji) cannot be read as text: strip from the body
            // with it replaced, since it is re-written anyway, rather than send the gateway's marker to Anthropic.
            return StripOrKeep(readable);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // A field of an unexpected type: forwarded as sent, and the upstream judges it.
            return body;
        }
    }

    private static ReadOnlyMemory<byte> StripOrKeep(ReadOnlyMemory<byte> body)
    {
        try
        {
            return Strip(body);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return body;
        }
    }

    private static ReadOnlyMemory<byte> Strip(ReadOnlyMemory<byte> body)
    {
        var root = JsonNode.Parse(body.Span) as JsonObject;

        if (root?["messages"] is not JsonArray messages)
        {
            return body;
        }

        var lastAssistant = messages.LastOrDefault(m => m?["role"]?.GetValue<string>() == "assistant");
        var lastAssistantLostThinking = false;
        foreach (var message in messages)
        {
            if (message?["role"]?.GetValue<string>() != "assistant" || message["content"] is not JsonArray content)
            {
                continue;
            }

            var removed = 0;
            for (var i = content.Count - 1; i >= 0; i--)
            {
                if (content[i] is JsonObject block && block["type"]?.GetValue<string>() == "thinking"
                    && GatewayThinking.IsGatewayMade(block["signature"]?.GetValue<string>()))
                {
                    content.RemoveAt(i);
                    removed++;
                }
            }

            if (removed > 0 && content.Count == 0)
            {
                // A turn that was only thinking: keep the turn (alternation), not the thinking.
                content.Add(new JsonObject { ["type"] = "text", ["text"] = "(reasoning omitted)" });
            }

            lastAssistantLostThinking |= removed > 0 && ReferenceEquals(message, lastAssistant);
        }

        if (lastAssistantLostThinking && root["thinking"] is JsonObject thinking && thinking["type"]?.GetValue<string>() != "disabled")
        {
            root.Remove("thinking");
            if (root["context_management"]?["edits"] is JsonArray edits)
            {
                // Clearing thinking is only valid while thinking is on.
                for (var i = edits.Count - 1; i >= 0; i--)
                {
                    if (edits[i]?["type"]?.GetValue<string>()?.StartsWith("clear_thinking", StringComparison.Ordinal) == true)
                    {
                        edits.RemoveAt(i);
                    }
                }
            }
        }

        return JsonSerializer.SerializeToUtf8Bytes(root, s_output);
    }
}
