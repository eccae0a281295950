using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// OpenAI Responses SSE → Anthropic SSE: <c>response.created</c> becomes <c>message_start</c>; each output item a
/// content block, one open at a time (a message's <c>output_text</c> part a text block, a <c>function_call</c> a
/// tool_use block whose id is the <c>call_id</c>, a reasoning summary a thinking block signed with the gateway's
/// marker); <c>response.completed</c> or <c>response.incomplete</c> becomes <c>message_delta</c> with the stop
/// reason and usage, then <c>message_stop</c>. <c>response.failed</c>, an <c>error</c> event, or an end before any of
/// these is an Anthropic <c>error</c> event: never a made-up stop.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>.</param>
internal sealed class ResponsesStreamToMessages(string clientModel, long estimatedInputTokens) : IStreamConverter
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
            var data = document.RootElement;
            switch (OpenAIWire.GetString(data, "type") ?? upstreamEvent.EventType)
            {
                case "response.created":
                    Start(data.TryGetProperty("response", out var created) ? OpenAIWire.GetString(created, "id") : null, output);
                    break;
                case "response.output_item.added" when data.TryGetProperty("item", out var item):
                    switch (OpenAIWire.GetString(item, "type"))
                    {
                        case "function_call":
                            _calledTools = true;
                            Open("tool_use", output, json =>
                            {
                                json.WriteString("id"u8, OpenAIWire.GetString(item, "call_id") ?? "call_" + OpenAIWire.RandomSuffix());
                                json.WriteString("name"u8, OpenAIWire.GetString(item, "name") ?? string.Empty);
                                json.WriteStartObject("input"u8);
                                json.WriteEndObject();
                            });
                            break;
                        case "reasoning":
                            Open("thinking", output, json =>
                            {
                                json.WriteString("thinking"u8, string.Empty);
                                json.WriteString("signature"u8, string.Empty);
                            });
                            break;
                    }

                    break;
                case "response.content_part.added":
                    Open("text", output, json => json.WriteString("text"u8, string.Empty));
                    break;
                case "response.output_text.delta" when _open == "text":
                    Delta(output, "text_delta", "text", OpenAIWire.GetString(data, "delta"));
                    break;
                case "response.reasoning_summary_text.delta" when _open == "thinking":
                    Delta(output, "thinking_delta", "thinking", OpenAIWire.GetString(data, "delta"));
                    break;
                case "response.function_call_arguments.delta" when _open == "tool_use":
                    Delta(output, "input_json_delta", "partial_json", OpenAIWire.GetString(data, "delta"));
                    break;
                case "response.content_part.done" or "response.output_item.done":
                    Close(output);
                    break;
                case "response.completed" or "response.incomplete":
                    Complete(data.TryGetProperty("response", out var response) ? response : default, output);
                    break;
                case "response.failed":
                    var failed = data.TryGetProperty("response", out var r) && r.TryGetProperty("error", out var e) ? OpenAIWire.GetString(e, "message") : null;
                    Fail("api_error", failed ?? "the upstream's response failed", output);
                    break;
                case "error":
                    Fail("api_error", OpenAIWire.GetString(data, "message") ?? "upstream error", output);
                    break;
                default:
                    // in_progress, *.done with the text again, annotations: nothing an Anthropic client needs.
                    break;
            }
        }
    }

    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        Fail("api_error", "the upstream stream ended before the response was finished", output);
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
            json.WriteString("id"u8, ResponsesUpstream.MessageId(responseId));
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
        Start(null, output);
        Close(output);
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

    private void Close(IBufferWriter<byte> output)
    {
        if (_open is null)
        {
            return;
        }

        if (_open == "thinking")
        {
            // Not Anthropic's signature: the gateway's marker, so the block is stripped before an Anthropic upstream.
            Event(output, "content_block_delta", json =>
            {
                json.WriteNumber("index"u8, _index);
                json.WriteStartObject("delta"u8);
                json.WriteString("type"u8, "signature_delta"u8);
                json.WriteString("signature"u8, GatewayThinking.Signature);
                json.WriteEndObject();
            });
        }

        Event(output, "content_block_stop", json => json.WriteNumber("index"u8, _index));
        _open = null;
    }

    private void Complete(JsonElement response, IBufferWriter<byte> output)
    {
        Start(response.ValueKind == JsonValueKind.Object ? OpenAIWire.GetString(response, "id") : null, output);
        Close(output);
        var usage = response.ValueKind == JsonValueKind.Object ? ResponsesUpstream.ReadUsage(response) : new StreamUsage();
        Usage.InputTokens = usage.InputTokens;
        Usage.OutputTokens = usage.OutputTokens;
        Usage.CacheReadInputTokens = usage.CacheReadInputTokens;
        var stopReason = response.ValueKind == JsonValueKind.Object ? ResponsesUpstream.StopReason(response, _calledTools) : "end_turn";
        Event(output, "message_delta", json =>
        {
            json.WriteStartObject("delta"u8);
            json.WriteString("stop_reason"u8, stopReason);
            json.WriteNull("stop_sequence"u8);
            json.WriteEndObject();
            ResponsesUpstream.WriteAnthropicUsage(json, Usage);
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
