using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Gemini SSE (<c>streamGenerateContent?alt=sse</c>) → Anthropic SSE. The first chunk starts the message; each part
/// continues or opens a content block, one open at a time: text a text block, a thought part a thinking block, a
/// <c>functionCall</c> (which Gemini sends whole) a tool_use block with its input in one delta. A part's
/// <c>thoughtSignature</c> closes a thinking block signed with it (<see cref="GatewayThinking.ForGemini"/>), or, on a
/// part that is not a thought, comes in an empty thinking block just before it. The chunk with <c>finishReason</c>
/// ends the message with the stop reason and the last <c>usageMetadata</c>. An error chunk, or an end before a
/// finish reason, is an Anthropic <c>error</c> event.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>.</param>
internal sealed class GeminiStreamToMessages(string clientModel, long estimatedInputTokens) : IStreamConverter
{
    private bool _started;
    private int _index = -1;
    private string? _open;
    private bool _calledTools;

    public bool Finished { get; private set; }

    public StreamUsage Usage { get; } = new();

    public void Begin(IBufferWriter<byte> output)
    {
    }

    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished || upstreamEvent.IsComment || upstreamEvent.DataUtf8.IsEmpty)
        {
            return;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(upstreamEvent.DataUtf8);
        }
        catch (JsonException)
        {
            Fail("api_error", "the upstream sent an event that is not valid JSON", output);
            return;
        }

        using (document)
        {
            var chunk = document.RootElement;
            if (chunk.ValueKind != JsonValueKind.Object)
            {
                Fail("api_error", "the upstream sent an event that is not a Gemini response", output);
                return;
            }

            if (chunk.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var status = GeminiWire.TryGet(error, "code", out var code) && code.TryGetInt32(out var c) ? c : 500;
                Fail(Protocols.ErrorBodies.AnthropicType(status == 503 ? 529 : status), GeminiWire.GetString(error, "message") ?? "upstream error", output);
                return;
            }

            Start(GeminiWire.GetString(chunk, "responseId"), output);
            if (GeminiWire.TryGet(chunk, "usageMetadata", out var metadata))
            {
                var usage = GeminiWire.ReadUsage(metadata);
                (Usage.InputTokens, Usage.OutputTokens, Usage.CacheReadInputTokens) = (usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens);
            }

            var candidate = GeminiUpstream.FirstCandidate(chunk);
            foreach (var part in GeminiUpstream.Parts(candidate))
            {
                Part(part, output);
            }

            if (candidate.ValueKind != JsonValueKind.Object && GeminiWire.TryGet(chunk, "promptFeedback", out var feedback) && GeminiWire.GetString(feedback, "blockReason") is not null)
            {
                Complete("refusal", output);
            }
            else if (GeminiWire.GetString(candidate, "finishReason") is { } finishReason)
            {
                Complete(GeminiWire.StopReason(finishReason, _calledTools), output);
            }
        }
    }

    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        Fail("api_error", "the upstream stream ended before the answer was finished", output);
        return false;
    }

    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            Finished = true;
            StreamFrames.AnthropicError(output, anthropicErrorType, message);
        }
    }

    public void Ping(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            StreamFrames.AnthropicPing(output);
        }
    }

    private void Part(JsonElement part, IBufferWriter<byte> output)
    {
        var signature = GeminiWire.GetString(part, "thoughtSignature");
        if (part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True)
        {
            if (_open != "thinking")
            {
                Open("thinking", output, json =>
                {
                    json.WriteString("thinking"u8, string.Empty);
                    json.WriteString("signature"u8, string.Empty);
                });
            }

            Delta(output, "thinking_delta", "thinking", GeminiWire.GetString(part, "text"));
            if (signature is not null)
            {
                Close(output, signature);
            }

            return;
        }

        if (signature is not null)
        {
            // The proof of the part that follows, in a thinking block of its own the client sends back with it.
            Open("thinking", output, json =>
            {
                json.WriteString("thinking"u8, string.Empty);
                json.WriteString("signature"u8, string.Empty);
            });
            Close(output, signature);
        }

        if (GeminiWire.TryGet(part, "functionCall", out var call))
        {
            _calledTools = true;
            Open("tool_use", output, json =>
            {
                json.WriteString("id"u8, GeminiWire.GetString(call, "id") is { Length: > 0 } id ? id : GeminiUpstream.MadeUpIdPrefix + OpenAIWire.RandomSuffix());
                json.WriteString("name"u8, GeminiWire.GetString(call, "name") ?? string.Empty);
                json.WriteStartObject("input"u8);
                json.WriteEndObject();
            });
            Delta(output, "input_json_delta", "partial_json", GeminiWire.TryGet(call, "args", out var args) && args.ValueKind == JsonValueKind.Object ? args.GetRawText() : "{}");
            Close(output, null);
            return;
        }

        if (GeminiWire.GetString(part, "text") is { Length: > 0 } text)
        {
            if (_open != "text")
            {
                Open("text", output, json => json.WriteString("text"u8, string.Empty));
            }

            Delta(output, "text_delta", "text", text);
        }
    }

    private void Start(string? responseId, IBufferWriter<byte> output)
    {
        if (_started)
        {
            return;
        }

        _started = true;
        Event(output, "message_start", json =>
        {
            json.WriteStartObject("message"u8);
            json.WriteString("id"u8, "msg_" + (responseId ?? OpenAIWire.RandomSuffix()));
            json.WriteString("type"u8, "message"u8);
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("content"u8);
            json.WriteEndArray();
            json.WriteNull("stop_reason"u8);
            json.WriteNull("stop_sequence"u8);
            json.WriteStartObject("usage"u8);
            json.WriteNumber("input_tokens"u8, estimatedInputTokens);
            json.WriteNumber("output_tokens"u8, 0);
            json.WriteEndObject();
            json.WriteEndObject();
        });
    }

    private void Open(string kind, IBufferWriter<byte> output, Action<Utf8JsonWriter> fields)
    {
        Close(output, null);
        _open = kind;
        _index++;
        Event(output, "content_block_start", json =>
        {
            json.WriteNumber("index"u8, _index);
            json.WriteStartObject("content_block"u8);
            json.WriteString("type"u8, kind);
            fields(json);
            json.WriteEndObject();
        });
    }

    private void Delta(IBufferWriter<byte> output, string type, string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        Event(output, "content_block_delta", json =>
        {
            json.WriteNumber("index"u8, _index);
            json.WriteStartObject("delta"u8);
            json.WriteString("type"u8, type);
            json.WriteString(field, value);
            json.WriteEndObject();
        });
    }

    private void Close(IBufferWriter<byte> output, string? thoughtSignature)
    {
        if (_open is null)
        {
            return;
        }

        if (_open == "thinking")
        {
            // The gateway's marker (with Gemini's signature, when there is one): stripped before an Anthropic upstream.
            Event(output, "content_block_delta", json =>
            {
                json.WriteNumber("index"u8, _index);
                json.WriteStartObject("delta"u8);
                json.WriteString("type"u8, "signature_delta"u8);
                json.WriteString("signature"u8, GatewayThinking.ForGemini(thoughtSignature));
                json.WriteEndObject();
            });
        }

        Event(output, "content_block_stop", json => json.WriteNumber("index"u8, _index));
        _open = null;
    }

    private void Complete(string stopReason, IBufferWriter<byte> output)
    {
        Close(output, null);
        Event(output, "message_delta", json =>
        {
            json.WriteStartObject("delta"u8);
            json.WriteString("stop_reason"u8, stopReason);
            json.WriteNull("stop_sequence"u8);
            json.WriteEndObject();
            GeminiUpstream.WriteAnthropicUsage(json, Usage);
        });
        Event(output, "message_stop", static _ => { });
        Finished = true;
    }

    private static void Event(IBufferWriter<byte> output, string type, Action<Utf8JsonWriter> fields) =>
        SseWriter.WriteEvent(output, type, OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, type);
            fields(json);
            json.WriteEndObject();
        }));
}
