using System.Buffers;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// Anthropic SSE → OpenAI Responses SSE, the event sequence clients check: <c>response.created</c>,
/// <c>response.in_progress</c>, then per content block an output item (<c>output_item.added</c> … <c>output_item.done</c>):
/// a text block is a <c>message</c> item with one <c>output_text</c> part and its deltas, a thinking block a
/// <c>reasoning</c> item whose summary carries the thinking text, a tool_use block a <c>function_call</c> item whose
/// <c>call_id</c> is the upstream's tool id; finally <c>response.completed</c> or <c>response.incomplete</c> with every
/// item and the usage. Every event carries <c>sequence_number</c> (0, 1, 2, …), and <c>output_index</c> and
/// <c>content_index</c> agree between an item's events. A failure is <c>response.failed</c>; there is no <c>[DONE]</c>.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="createdAt">The response's <c>created_at</c>.</param>
/// <param name="responseId">The response's id; null for a fresh one (tests fix it).</param>
/// <param name="onAnswer">Receives the final <c>response</c> object when the stream completes (the gateway keeps it); null when nothing is kept.</param>
internal sealed class MessagesStreamToResponses(string clientModel, long createdAt, string? responseId, Action<byte[]>? onAnswer = null)
    : JsonEventStream("the upstream stream ended before the response was finished")
{
    private readonly ArrayBufferWriter<byte> _event = new(512);
    private Utf8JsonWriter? _writer;
    private readonly List<byte[]> _items = [];
    private readonly StringBuilder _text = new();
    private readonly string _responseId = responseId ?? ResponsesWire.NewResponseId();
    private bool _started;
    private string? _stopReason;

    // The open block: its kind, item id, index, and (for a tool call) its call id and name.
    private string? _openKind;
    private string _itemId = string.Empty;
    private int _outputIndex = -1;
    private string _callId = string.Empty;
    private string _toolName = string.Empty;
    private int _sequence;

    protected override void Read(JsonElement data, string? eventType, IBufferWriter<byte> output)
    {
        switch (OpenAIWire.GetString(data, "type") ?? eventType)
        {
            case "message_start":
                var message = data.TryGetProperty("message", out var m) ? m : default;
                if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("usage", out var startUsage))
                {
                    OpenAIWire.ReadAnthropicUsage(startUsage, Usage);
                }

                Start(output);
                break;
            case "content_block_start":
                Start(output);
                OpenBlock(data.TryGetProperty("content_block", out var block) ? block : default, output);
                break;
            case "content_block_delta":
                OnDelta(data.TryGetProperty("delta", out var delta) ? delta : default, output);
                break;
            case "content_block_stop":
                CloseBlock(output);
                break;
            case "message_delta":
                _stopReason = StreamFrames.ReadMessageDelta(data, Usage) ?? _stopReason;
                break;
            case "message_stop":
                Complete(output);
                break;
            case "error":
                var (errorType, errorMessage) = StreamFrames.ReadAnthropicError(data);
                Fail(errorType, errorMessage, output);
                break;
            default:
                // ping, and event types added later.
                break;
        }
    }

    protected override bool EndsWhole(IBufferWriter<byte> output)
    {
        if (_stopReason is null)
        {
            return false;
        }

        // message_delta came with its stop reason, only message_stop is missing: the answer is whole.
        Complete(output);
        return true;
    }

    protected override void WriteError(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        Start(output);
        CloseOpenItemAsIncomplete(output);
        Write(output, "response.failed", json =>
        {
            json.WritePropertyName("response"u8);
            ResponsesWire.WriteResponse(json, _responseId, createdAt, clientModel, "failed", null, onAnswer is not null, WriteItems(_items), Usage,
                (anthropicErrorType == "overloaded_error" || anthropicErrorType == "rate_limit_error" ? "rate_limit_exceeded" : "server_error", message));
        });
    }

    // Responses clients skip comment lines.
    protected override void WritePing(IBufferWriter<byte> output) => StreamFrames.OpenAIPing(output);

    private void Start(IBufferWriter<byte> output)
    {
        if (_started)
        {
            return;
        }

        _started = true;
        foreach (var type in (ReadOnlySpan<string>)["response.created", "response.in_progress"])
        {
            Write(output, type, json =>
            {
                json.WritePropertyName("response"u8);
                ResponsesWire.WriteResponse(json, _responseId, createdAt, clientModel, "in_progress", null, onAnswer is not null, static _ => { }, null);
            });
        }
    }

    private void OpenBlock(JsonElement block, IBufferWriter<byte> output)
    {
        CloseBlock(output);
        var kind = OpenAIWire.GetString(block, "type");
        if (kind is not ("text" or "thinking" or "tool_use"))
        {
            // redacted_thinking and server tool blocks have no Responses item.
            return;
        }

        _openKind = kind;
        _outputIndex = _items.Count;
        _text.Clear();
        switch (kind)
        {
            case "text":
                _itemId = ResponsesWire.ItemId("msg_", _responseId, _outputIndex);
                WriteItemEvent(output, "response.output_item.added", json =>
                {
                    json.WriteStartObject();
                    json.WriteString("id"u8, _itemId);
                    json.WriteString("type"u8, "message"u8);
                    json.WriteString("status"u8, "in_progress"u8);
                    json.WriteString("role"u8, "assistant"u8);
                    json.WriteStartArray("content"u8);
                    json.WriteEndArray();
                    json.WriteEndObject();
                });
                WritePartEvent(output, "response.content_part.added", string.Empty);
                break;
            case "thinking":
                _itemId = ResponsesWire.ItemId("rs_", _responseId, _outputIndex);
                WriteItemEvent(output, "response.output_item.added", json => ResponsesWire.WriteReasoningItem(json, _itemId, null));
                WriteSummaryPartEvent(output, "response.reasoning_summary_part.added", string.Empty);
                break;
            default:
                _itemId = ResponsesWire.ItemId("fc_", _responseId, _outputIndex);
                _callId = OpenAIWire.GetString(block, "id") ?? "call_" + OpenAIWire.RandomSuffix();
                _toolName = OpenAIWire.GetString(block, "name") ?? string.Empty;
                WriteItemEvent(output, "response.output_item.added",
                    json => ResponsesWire.WriteFunctionCallItem(json, _itemId, "in_progress", _callId, _toolName, string.Empty));
                break;
        }
    }

    private void OnDelta(JsonElement delta, IBufferWriter<byte> output)
    {
        switch (OpenAIWire.GetString(delta, "type"))
        {
            case "text_delta" when _openKind == "text":
                var text = OpenAIWire.GetString(delta, "text") ?? string.Empty;
                _text.Append(text);
                Write(output, "response.output_text.delta", json =>
                {
                    WriteItemRef(json, withContentIndex: true);
                    json.WriteString("delta"u8, text);
                    json.WriteStartArray("logprobs"u8);
                    json.WriteEndArray();
                });
                break;
            case "thinking_delta" when _openKind == "thinking":
                var thinking = OpenAIWire.GetString(delta, "thinking") ?? string.Empty;
                _text.Append(thinking);
                Write(output, "response.reasoning_summary_text.delta", json =>
                {
                    WriteItemRef(json, withContentIndex: false);
                    json.WriteNumber("summary_index"u8, 0);
                    json.WriteString("delta"u8, thinking);
                });
                break;
            case "input_json_delta" when _openKind == "tool_use":
                var partial = OpenAIWire.GetString(delta, "partial_json") ?? string.Empty;
                _text.Append(partial);
                Write(output, "response.function_call_arguments.delta", json =>
                {
                    WriteItemRef(json, withContentIndex: false);
                    json.WriteString("delta"u8, partial);
                });
                break;
            default:
                // signature_delta: Anthropic's proof, not for an OpenAI client.
                break;
        }
    }

    private void CloseBlock(IBufferWriter<byte> output)
    {
        if (_openKind is null)
        {
            return;
        }

        var text = _text.ToString();
        byte[] item;
        switch (_openKind)
        {
            case "text":
                Write(output, "response.output_text.done", json =>
                {
                    WriteItemRef(json, withContentIndex: true);
                    json.WriteString("text"u8, text);
                    json.WriteStartArray("logprobs"u8);
                    json.WriteEndArray();
                });
                WritePartEvent(output, "response.content_part.done", text);
                item = OpenAIWire.Write(json => ResponsesWire.WriteMessageItem(json, _itemId, "completed", text));
                break;
            case "thinking":
                Write(output, "response.reasoning_summary_text.done", json =>
                {
                    WriteItemRef(json, withContentIndex: false);
                    json.WriteNumber("summary_index"u8, 0);
                    json.WriteString("text"u8, text);
                });
                WriteSummaryPartEvent(output, "response.reasoning_summary_part.done", text);
                item = OpenAIWire.Write(json => ResponsesWire.WriteReasoningItem(json, _itemId, text));
                break;
            default:
                var arguments = text.Length == 0 ? "{}" : text;
                Write(output, "response.function_call_arguments.done", json =>
                {
                    WriteItemRef(json, withContentIndex: false);
                    json.WriteString("arguments"u8, arguments);
                });
                item = OpenAIWire.Write(json => ResponsesWire.WriteFunctionCallItem(json, _itemId, "completed", _callId, _toolName, arguments));
                break;
        }

        _items.Add(item);
        WriteItemEvent(output, "response.output_item.done", json => json.WriteRawValue(item, skipInputValidation: true));
        _openKind = null;
    }

    // A cut stream still closes the item it was in, marked incomplete, so the client's item count adds up.
    private void CloseOpenItemAsIncomplete(IBufferWriter<byte> output)
    {
        if (_openKind is null)
        {
            return;
        }

        var text = _text.ToString();
        var item = _openKind switch
        {
            "text" => OpenAIWire.Write(json => ResponsesWire.WriteMessageItem(json, _itemId, "incomplete", text)),
            "thinking" => OpenAIWire.Write(json => ResponsesWire.WriteReasoningItem(json, _itemId, text)),
            _ => OpenAIWire.Write(json => ResponsesWire.WriteFunctionCallItem(json, _itemId, "incomplete", _callId, _toolName, text)),
        };
        _items.Add(item);
        WriteItemEvent(output, "response.output_item.done", json => json.WriteRawValue(item, skipInputValidation: true));
        _openKind = null;
    }

    private void Complete(IBufferWriter<byte> output)
    {
        Start(output);
        CloseBlock(output);
        Finished = true;
        var (status, incompleteReason) = ResponsesWire.Status(_stopReason);
        var response = OpenAIWire.Write(json =>
            ResponsesWire.WriteResponse(json, _responseId, createdAt, clientModel, status, incompleteReason, onAnswer is not null, WriteItems(_items), Usage));
        Write(output, status == "completed" ? "response.completed" : "response.incomplete", json =>
        {
            json.WritePropertyName("response"u8);
            json.WriteRawValue(response, skipInputValidation: true);
        });
        onAnswer?.Invoke(response);
    }

    private static Action<Utf8JsonWriter> WriteItems(List<byte[]> items) => json =>
    {
        foreach (var item in items)
        {
            json.WriteRawValue(item, skipInputValidation: true);
        }
    };

    private void WriteItemRef(Utf8JsonWriter json, bool withContentIndex)
    {
        json.WriteString("item_id"u8, _itemId);
        json.WriteNumber("output_index"u8, _outputIndex);
        if (withContentIndex)
        {
            json.WriteNumber("content_index"u8, 0);
        }
    }

    private void WriteItemEvent(IBufferWriter<byte> output, string type, Action<Utf8JsonWriter> writeItem) =>
        Write(output, type, json =>
        {
            json.WriteNumber("output_index"u8, _outputIndex);
            json.WritePropertyName("item"u8);
            writeItem(json);
        });

    private void WritePartEvent(IBufferWriter<byte> output, string type, string text) =>
        Write(output, type, json =>
        {
            WriteItemRef(json, withContentIndex: true);
            json.WritePropertyName("part"u8);
            ResponsesWire.WriteTextPart(json, text);
        });

    private void WriteSummaryPartEvent(IBufferWriter<byte> output, string type, string text) =>
        Write(output, type, json =>
        {
            WriteItemRef(json, withContentIndex: false);
            json.WriteNumber("summary_index"u8, 0);
            json.WritePropertyName("part"u8);
            ResponsesWire.WriteSummaryPart(json, text);
        });

    // One event: {"type": …, "sequence_number": n, …fields}, as "event: type" + "data: json".
    private void Write(IBufferWriter<byte> output, string type, Action<Utf8JsonWriter> fields)
    {
        // One writer for the stream's life, reset per event.
        _event.ResetWrittenCount();
        var json = _writer ??= new Utf8JsonWriter(_event, OpenAIWire.WriterOptions);
        json.Reset(_event);
        json.WriteStartObject();
        json.WriteString("type"u8, type);
        json.WriteNumber("sequence_number"u8, _sequence++);
        fields(json);
        json.WriteEndObject();
        json.Flush();
        SseWriter.WriteEvent(output, type, _event.WrittenSpan);
    }
}
