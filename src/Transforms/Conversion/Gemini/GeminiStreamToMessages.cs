using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Gemini SSE (<c>streamGenerateContent?alt=sse</c>) → Anthropic SSE. The first chunk starts the message; each part
/// continues or opens a content block, one open at a time: text a text block, a thought part a thinking block, a
/// <c>functionCall</c> (which Gemini sends whole) a tool_use block with its input in one delta. A part's
/// <c>thoughtSignature</c> closes a thinking block that carries it (<see cref="GatewayThinking.ForGemini"/>), or, on a
/// part that is not a thought, comes in an empty thinking block just before it. The chunk with <c>finishReason</c>
/// ends the message with the stop reason and the last <c>usageMetadata</c>. An error chunk, or an end before a
/// finish reason, is an Anthropic <c>error</c> event.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>.</param>
/// <param name="toolNames">How the request shortened tool names, to give them back.</param>
internal sealed class GeminiStreamToMessages(string clientModel, long estimatedInputTokens, ToolNameMap toolNames)
    : JsonEventsToMessages(clientModel, estimatedInputTokens, "the upstream stream ended before the answer was finished")
{
    private bool _calledTools;

    protected override void Read(JsonElement chunk, string? eventType, IBufferWriter<byte> output)
    {
        if (chunk.ValueKind != JsonValueKind.Object)
        {
            Fail("api_error", "the upstream sent an event that is not a Gemini response", output);
            return;
        }

        if (chunk.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            var status = GeminiWire.TryGet(error, "code", out var code) && GeminiWire.Number(code) is { } c and >= 100 and < 600 ? (int)c : 500;
            Fail(Protocols.ErrorMapping.AnthropicTypeOfUpstreamStatus(status), GeminiWire.GetString(error, "message") ?? "upstream error", output);
            return;
        }

        if (!Writer.Started)
        {
            Writer.Start(GeminiWire.MessageId(GeminiWire.GetString(chunk, "responseId")), output);
        }

        if (GeminiWire.TryGet(chunk, "usageMetadata", out var metadata))
        {
            GeminiWire.ReadUsage(metadata, Usage);
        }

        var candidate = GeminiUpstream.FirstCandidate(chunk);
        foreach (var part in GeminiUpstream.Parts(candidate))
        {
            Part(part, output);
        }

        if (candidate.ValueKind != JsonValueKind.Object && GeminiWire.TryGet(chunk, "promptFeedback", out var feedback) && GeminiWire.GetString(feedback, "blockReason") is not null)
        {
            Finish("refusal", output);
        }
        else if (GeminiWire.GetString(candidate, "finishReason") is { } finishReason)
        {
            if (GeminiWire.IsBrokenFinish(finishReason))
            {
                Fail("api_error", $"the upstream model's turn broke off ({finishReason})", output);
            }
            else
            {
                Finish(GeminiWire.StopReason(finishReason, _calledTools), output);
            }
        }
    }

    private void Part(JsonElement part, IBufferWriter<byte> output)
    {
        var signature = GeminiWire.GetString(part, "thoughtSignature");
        if (part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True)
        {
            if (Writer.OpenBlock != "thinking")
            {
                Writer.OpenThinking(output);
            }

            Writer.Delta(output, "thinking_delta", "thinking", GeminiWire.GetString(part, "text"));
            if (signature is not null)
            {
                Writer.Close(output, GatewayThinking.ForGemini(signature));
            }

            return;
        }

        if (signature is not null)
        {
            // The proof of the part that follows, in a thinking block of its own the client sends back with it.
            Writer.OpenThinking(output);
            Writer.Close(output, GatewayThinking.ForGemini(signature));
        }

        if (GeminiWire.TryGet(part, "functionCall", out var call))
        {
            _calledTools = true;
            Writer.Open("tool_use", output, json =>
            {
                json.WriteString("id"u8, GeminiWire.GetString(call, "id") is { Length: > 0 } id ? id : GeminiUpstream.MadeUpIdPrefix + OpenAIWire.RandomSuffix());
                json.WriteString("name"u8, toolNames.ToClient(GeminiWire.GetString(call, "name") ?? string.Empty));
                json.WriteStartObject("input"u8);
                json.WriteEndObject();
            });
            Writer.Delta(output, "input_json_delta", "partial_json", GeminiWire.TryGet(call, "args", out var args) && args.ValueKind == JsonValueKind.Object ? args.GetRawText() : "{}");
            Writer.Close(output);
            return;
        }

        if (GeminiWire.GetString(part, "text") is { Length: > 0 } text)
        {
            if (Writer.OpenBlock != "text")
            {
                Writer.Open("text", output, static json => json.WriteString("text"u8, string.Empty));
            }

            Writer.Delta(output, "text_delta", "text", text);
        }
    }

}
