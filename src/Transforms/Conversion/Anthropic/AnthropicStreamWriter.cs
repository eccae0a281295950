using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Anthropic;

/// <summary>
/// Writes an Anthropic Messages stream for a converter from another protocol's stream (Responses, Gemini):
/// <c>message_start</c> once, one content block open at a time with its deltas, a thinking block closed with the
/// gateway's signature (never Anthropic's), then <c>message_delta</c> and <c>message_stop</c>. The converter decides
/// what to write; this keeps the block index and the framing right.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>, before the upstream reports them.</param>
internal sealed class AnthropicStreamWriter(string clientModel, long estimatedInputTokens)
{
    private int _index = -1;

    /// <summary>True once <c>message_start</c> is written.</summary>
    public bool Started { get; private set; }

    /// <summary>The type of the open content block (<c>text</c>, <c>thinking</c>, <c>tool_use</c>); null when none is open.</summary>
    public string? OpenBlock { get; private set; }

    /// <summary>Writes <c>message_start</c> with <paramref name="messageId"/>, unless it is written already.</summary>
    public void Start(string messageId, IBufferWriter<byte> output)
    {
        if (Started)
        {
            return;
        }

        Started = true;
        Event(output, "message_start", json =>
        {
            json.WriteStartObject("message"u8);
            json.WriteString("id"u8, messageId);
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

    /// <summary>Closes the open block (if any) and opens one of <paramref name="kind"/>; <paramref name="fields"/> writes its start fields.</summary>
    public void Open(string kind, IBufferWriter<byte> output, Action<Utf8JsonWriter> fields)
    {
        Close(output);
        OpenBlock = kind;
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

    /// <summary>Opens a thinking block, empty, its text to come in deltas.</summary>
    public void OpenThinking(IBufferWriter<byte> output) => Open("thinking", output, static json =>
    {
        json.WriteString("thinking"u8, string.Empty);
        json.WriteString("signature"u8, string.Empty);
    });

    /// <summary>A delta of the open block (<c>text_delta</c>/<c>text</c>, <c>thinking_delta</c>/<c>thinking</c>, <c>input_json_delta</c>/<c>partial_json</c>); nothing for an empty value.</summary>
    public void Delta(IBufferWriter<byte> output, string type, string field, string? value)
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

    /// <summary>Closes the open block; a thinking block gets <paramref name="signature"/> first (the gateway's marker by default).</summary>
    public void Close(IBufferWriter<byte> output, string signature = GatewayThinking.Signature)
    {
        if (OpenBlock is null)
        {
            return;
        }

        if (OpenBlock == "thinking")
        {
            // Not Anthropic's signature: the gateway's, so the block is stripped before an Anthropic upstream.
            Event(output, "content_block_delta", json =>
            {
                json.WriteNumber("index"u8, _index);
                json.WriteStartObject("delta"u8);
                json.WriteString("type"u8, "signature_delta"u8);
                json.WriteString("signature"u8, signature);
                json.WriteEndObject();
            });
        }

        Event(output, "content_block_stop", json => json.WriteNumber("index"u8, _index));
        OpenBlock = null;
    }

    /// <summary>Closes the open block and ends the message: <c>message_delta</c> with the stop reason and usage, then <c>message_stop</c>.</summary>
    public void Finish(string stopReason, StreamUsage usage, IBufferWriter<byte> output)
    {
        Close(output);
        Event(output, "message_delta", json =>
        {
            json.WriteStartObject("delta"u8);
            json.WriteString("stop_reason"u8, stopReason);
            json.WriteNull("stop_sequence"u8);
            json.WriteEndObject();
            WriteUsage(json, usage);
        });
        Event(output, "message_stop", static _ => { });
    }

    /// <summary>Anthropic's <c>usage</c> object, all four counts.</summary>
    public static void WriteUsage(Utf8JsonWriter json, StreamUsage usage)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(usage);
        json.WriteStartObject("usage"u8);
        json.WriteNumber("input_tokens"u8, usage.InputTokens);
        json.WriteNumber("output_tokens"u8, usage.OutputTokens);
        json.WriteNumber("cache_read_input_tokens"u8, usage.CacheReadInputTokens);
        json.WriteNumber("cache_creation_input_tokens"u8, usage.CacheCreationInputTokens);
        json.WriteEndObject();
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
