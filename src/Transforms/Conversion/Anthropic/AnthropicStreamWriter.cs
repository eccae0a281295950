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
internal sealed class AnthropicStreamWriter
{
    // Each event's JSON is built here, then framed into the output: one buffer and writer for the whole stream.
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private readonly Utf8JsonWriter _json;
    private readonly string _clientModel;
    private readonly long _estimatedInputTokens;
    private int _index = -1;

    /// <summary>A writer for one stream.</summary>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>, before the upstream reports them.</param>
    public AnthropicStreamWriter(string clientModel, long estimatedInputTokens)
    {
        _clientModel = clientModel;
        _estimatedInputTokens = estimatedInputTokens;
        _json = new Utf8JsonWriter(_buffer, OpenAIWire.WriterOptions);
    }

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
        var json = BeginEvent("message_start");
        {
            json.WriteStartObject("message"u8);
            json.WriteString("id"u8, messageId);
            json.WriteString("type"u8, "message"u8);
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("model"u8, _clientModel);
            json.WriteStartArray("content"u8);
            json.WriteEndArray();
            json.WriteNull("stop_reason"u8);
            json.WriteNull("stop_sequence"u8);
            json.WriteStartObject("usage"u8);
            json.WriteNumber("input_tokens"u8, _estimatedInputTokens);
            json.WriteNumber("output_tokens"u8, 0);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        EndEvent(output, "message_start");
    }

    /// <summary>Closes the open block (if any) and opens one of <paramref name="kind"/>; <paramref name="fields"/> writes its start fields.</summary>
    public void Open(string kind, IBufferWriter<byte> output, Action<Utf8JsonWriter> fields)
    {
        Close(output);
        OpenBlock = kind;
        _index++;
        var json = BeginEvent("content_block_start");
        json.WriteNumber("index"u8, _index);
        json.WriteStartObject("content_block"u8);
        json.WriteString("type"u8, kind);
        fields(json);
        json.WriteEndObject();
        EndEvent(output, "content_block_start");
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

        var json = BeginEvent("content_block_delta");
        json.WriteNumber("index"u8, _index);
        json.WriteStartObject("delta"u8);
        json.WriteString("type"u8, type);
        json.WriteString(field, value);
        json.WriteEndObject();
        EndEvent(output, "content_block_delta");
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
            var delta = BeginEvent("content_block_delta");
            delta.WriteNumber("index"u8, _index);
            delta.WriteStartObject("delta"u8);
            delta.WriteString("type"u8, "signature_delta"u8);
            delta.WriteString("signature"u8, signature);
            delta.WriteEndObject();
            EndEvent(output, "content_block_delta");
        }

        BeginEvent("content_block_stop").WriteNumber("index"u8, _index);
        EndEvent(output, "content_block_stop");
        OpenBlock = null;
    }

    /// <summary>Closes the open block and ends the message: <c>message_delta</c> with the stop reason and usage, then <c>message_stop</c>.</summary>
    public void Finish(string stopReason, StreamUsage usage, IBufferWriter<byte> output)
    {
        Close(output);
        var json = BeginEvent("message_delta");
        json.WriteStartObject("delta"u8);
        json.WriteString("stop_reason"u8, stopReason);
        json.WriteNull("stop_sequence"u8);
        json.WriteEndObject();
        WriteUsage(json, usage);
        EndEvent(output, "message_delta");
        BeginEvent("message_stop");
        EndEvent(output, "message_stop");
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

    // Starts an event object {"type": …}; the caller writes its fields, then EndEvent frames it.
    private Utf8JsonWriter BeginEvent(string type)
    {
        _buffer.ResetWrittenCount();
        _json.Reset();
        _json.WriteStartObject();
        _json.WriteString("type"u8, type);
        return _json;
    }

    private void EndEvent(IBufferWriter<byte> output, string type)
    {
        _json.WriteEndObject();
        _json.Flush();
        SseWriter.WriteEvent(output, type, _buffer.WrittenSpan);
    }
}
