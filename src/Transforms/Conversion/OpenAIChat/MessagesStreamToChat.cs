using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// Anthropic Messages SSE → OpenAI data-only SSE, as <c>chat.completion.chunk</c>s or as legacy
/// <c>text_completion</c> chunks (docs/protocols.md §3.3, §3.4). One state machine serves both shapes so the
/// rules (tool indices, finish, usage, errors, EOF) cannot drift apart.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Every chunk carries the same <c>id</c> (<c>chatcmpl-</c>/<c>cmpl-</c> + the Anthropic message id) and
/// <c>created</c> (§8 #35).</item>
/// <item>Tool calls are numbered among tool_use blocks only, 0, 1, 2…, never from the Anthropic block index,
/// which counts thinking and text blocks too (§8 #6).</item>
/// <item><c>message_delta</c> writes the finish chunk, then the usage chunk (<c>choices: []</c>) when the client
/// asked for it; <c>message_stop</c> writes <c>data: [DONE]</c> (§8 #23).</item>
/// <item>An Anthropic <c>error</c> event, or a stream that ends before its <c>message_delta</c>, becomes
/// <c>data: {"error":{…}}</c> and the stream stops there, without <c>[DONE]</c>: the OpenAI SDKs raise on an
/// error object, and a <c>[DONE]</c> after it would only look like a success to hand-written clients (§8 #21).</item>
/// </list>
/// </remarks>
internal sealed class MessagesStreamToChat : IStreamConverter
{
    // The upstream event types with a meaning here; "type" is matched on its bytes, without a string.
    private static readonly string[] KnownEventTypes =
    [
        "message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop", "error",
    ];

    private static readonly string[] KnownDeltaTypes = ["text_delta", "thinking_delta", "input_json_delta"];

    // One chunk at a time is built here, then framed into the output: reused for every chunk.
    private readonly ArrayBufferWriter<byte> _json = new(256);
    private readonly Utf8JsonWriter _writer;
    private readonly OpenAIWire.Shape _shape;
    private readonly string _clientModel;
    private readonly bool _includeUsage;
    private readonly long _created;
    private readonly string? _fallbackIdSuffix;

    // Anthropic content block index → the tool call's ordinal among tool calls, and whether it got arguments.
    private readonly Dictionary<long, ToolState> _toolsByBlock = [];
    private string? _id;
    private int _toolCount;
    private bool _roleSent;
    private bool _finishSent;
    private string? _stopReason;

    public MessagesStreamToChat(OpenAIWire.Shape shape, string clientModel, bool includeUsage, long created, string? fallbackIdSuffix)
    {
        _shape = shape;
        _clientModel = clientModel;
        _includeUsage = includeUsage;
        _created = created;
        _fallbackIdSuffix = fallbackIdSuffix;
        _writer = new Utf8JsonWriter(_json, OpenAIWire.WriterOptions);
    }

    public bool Finished { get; private set; }

    public StreamUsage Usage { get; } = new();

    /// <summary>The mapped finish reason once the upstream sent its <c>message_delta</c>; null before.</summary>
    public string? FinishReason => _finishSent ? OpenAIWire.FinishReason(_stopReason, _shape) : null;

    // Nothing to say before the upstream's message_start: its id becomes the chunk id. Keep-alives are Ping's job.
    public void Begin(IBufferWriter<byte> output)
    {
    }

    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished || upstreamEvent.IsComment || upstreamEvent.DataUtf8.IsEmpty)
        {
            return;
        }

        if (upstreamEvent.DataUtf8.Span.SequenceEqual("[DONE]"u8))
        {
            // Never sent by Anthropic, but some relays add it (§8 #23): treat it as the end of the stream.
            End(output);
            return;
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(upstreamEvent.DataUtf8);
        }
        catch (JsonException)
        {
            WriteError("upstream sent an event that is not valid JSON", "server_error", null, output);
            return;
        }

        using (doc)
        {
            var data = doc.RootElement;
            switch (KnownType(data, KnownEventTypes, upstreamEvent.EventType))
            {
                case "message_start":
                    OnMessageStart(data, output);
                    break;
                case "content_block_start":
                    OnBlockStart(data, output);
                    break;
                case "content_block_delta":
                    OnBlockDelta(data, output);
                    break;
                case "content_block_stop":
                    if (OpenAIWire.TryGetLong(data, "index", out var stopped) && _toolsByBlock.TryGetValue(stopped, out var closing))
                    {
                        CloseTool(closing, output);
                    }

                    break;
                case "message_delta":
                    OnMessageDelta(data, output);
                    break;
                case "message_stop":
                    Finish(output);
                    break;
                case "error":
                    var (anthropicType, message) = StreamFrames.ReadAnthropicError(data);
                    WriteError(message, ErrorMapping.OpenAITypeFor(anthropicType), anthropicType, output);
                    break;
                default:
                    // ping, and event types added later: nothing for an OpenAI client.
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

        if (_finishSent)
        {
            // message_delta arrived (the answer is complete), only message_stop was lost: finish normally.
            Finish(output);
            return true;
        }

        WriteError("upstream stream ended before it finished", "server_error", null, output);
        return false;
    }

    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            WriteError(message, ErrorMapping.OpenAITypeFor(anthropicErrorType), anthropicErrorType, output);
        }
    }

    public void Ping(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            // OpenAI SDKs skip comment lines; OpenRouter uses the same keep-alive.
            SseWriter.WriteComment(output, "keep-alive");
        }
    }

    private string Id => _id ??= OpenAIWire.IdPrefix(_shape) + (_fallbackIdSuffix ?? OpenAIWire.RandomSuffix());

    private void OnMessageStart(JsonElement data, IBufferWriter<byte> output)
    {
        if (data.TryGetProperty("message", out var message))
        {
            var upstreamId = OpenAIWire.GetString(message, "id");
            if (_id is null && !string.IsNullOrEmpty(upstreamId))
            {
                _id = OpenAIWire.IdPrefix(_shape) + upstreamId;
            }

            if (message.TryGetProperty("usage", out var usage))
            {
                OpenAIWire.ReadAnthropicUsage(usage, Usage);
            }
        }

        EnsureRole(output);
    }

    private void EnsureRole(IBufferWriter<byte> output)
    {
        if (_roleSent)
        {
            return;
        }

        _roleSent = true;
        if (_shape == OpenAIWire.Shape.Chat)
        {
            WriteChunk(output, static (json, _) =>
            {
                json.WriteString("role"u8, "assistant"u8);
                json.WriteString("content"u8, ""u8);
            }, 0);
        }
    }

    private void OnBlockStart(JsonElement data, IBufferWriter<byte> output)
    {
        if (!data.TryGetProperty("content_block", out var block))
        {
            return;
        }

        EnsureRole(output);
        switch (OpenAIWire.GetString(block, "type"))
        {
            case "text":
                WriteText(OpenAIWire.GetString(block, "text"), output);
                break;
            case "thinking":
                WriteReasoning(OpenAIWire.GetString(block, "thinking"), output);
                break;
            case "tool_use" when _shape == OpenAIWire.Shape.Chat:
                if (!OpenAIWire.TryGetLong(data, "index", out var blockIndex))
                {
                    blockIndex = -1 - _toolCount;
                }

                var toolIndex = _toolCount++;
                var id = OpenAIWire.GetString(block, "id") ?? "toolu_" + OpenAIWire.RandomSuffix();
                var name = OpenAIWire.GetString(block, "name") ?? string.Empty;

                // Anthropic starts tool blocks with input {} and streams the real input as input_json_delta.
                // A relay that puts the whole input here (§8 #2) must not lose it.
                var arguments = block.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object
                    && input.EnumerateObject().Any() ? input.GetRawText() : string.Empty;
                _toolsByBlock[blockIndex] = new ToolState(toolIndex) { HasArguments = arguments.Length > 0 };
                WriteToolCall(output, toolIndex, id, name, arguments);
                break;
            default:
                // redacted_thinking, server tools, and tool_use for legacy Completions (no tools there).
                break;
        }
    }

    private void OnBlockDelta(JsonElement data, IBufferWriter<byte> output)
    {
        if (!data.TryGetProperty("delta", out var delta))
        {
            return;
        }

        EnsureRole(output);
        switch (KnownType(delta, KnownDeltaTypes, null))
        {
            case "text_delta":
                WriteText(OpenAIWire.GetString(delta, "text"), output);
                break;
            case "thinking_delta":
                WriteReasoning(OpenAIWire.GetString(delta, "thinking"), output);
                break;
            case "input_json_delta" when _shape == OpenAIWire.Shape.Chat:
                var fragment = OpenAIWire.GetString(delta, "partial_json");
                if (!string.IsNullOrEmpty(fragment)
                    && OpenAIWire.TryGetLong(data, "index", out var blockIndex)
                    && _toolsByBlock.TryGetValue(blockIndex, out var tool))
                {
                    tool.HasArguments = true;
                    WriteToolCall(output, tool.Index, null, null, fragment);
                }

                break;
            default:
                // signature_delta: signatures have no OpenAI home (§7), and new-api's "\n" for them is noise.
                // citations_delta and unknown deltas: nothing to show.
                break;
        }
    }

    private void OnMessageDelta(JsonElement data, IBufferWriter<byte> output)
    {
        var stopReason = StreamFrames.ReadMessageDelta(data, Usage);
        if (_finishSent)
        {
            return;
        }

        _stopReason = stopReason;

        EnsureRole(output);
        WriteFinishAndUsage(output);
    }

    /// <summary>
    /// A tool call that got no argument fragment (a tool without parameters) gets <c>"{}"</c>: Anthropic's SDK
    /// reads an empty input as <c>{}</c>, but OpenAI clients JSON-parse the arguments string and fail on <c>""</c>.
    /// </summary>
    private void CloseTool(ToolState tool, IBufferWriter<byte> output)
    {
        if (!tool.HasArguments)
        {
            tool.HasArguments = true;
            WriteToolCall(output, tool.Index, null, null, "{}");
        }
    }

    private void WriteFinishAndUsage(IBufferWriter<byte> output)
    {
        foreach (var tool in _toolsByBlock.Values)
        {
            CloseTool(tool, output);
        }

        _finishSent = true;
        var finish = OpenAIWire.FinishReason(_stopReason, _shape);
        WriteChunk(output, null, 0, finish);
        if (_includeUsage)
        {
            WriteUsageChunk(output);
        }
    }

    private void Finish(IBufferWriter<byte> output)
    {
        EnsureRole(output);
        if (!_finishSent)
        {
            // message_stop without message_delta: still end with a finish chunk, or clients wait for one (§8 #21).
            WriteFinishAndUsage(output);
        }

        SseWriter.WriteEvent(output, null, "[DONE]"u8);
        Finished = true;
    }

    private void WriteText(string? text, IBufferWriter<byte> output)
    {
        if (string.IsNullOrEmpty(text))
        {
            return;
        }

        WriteChunk(output, static (json, t) => json.WriteString("content"u8, t), text);
    }

    private void WriteReasoning(string? text, IBufferWriter<byte> output)
    {
        // Legacy Completions has no place for reasoning: it is dropped (§3.4).
        if (string.IsNullOrEmpty(text) || _shape != OpenAIWire.Shape.Chat)
        {
            return;
        }

        WriteChunk(output, static (json, t) => json.WriteString("reasoning_content"u8, t), text);
    }

    private void WriteToolCall(IBufferWriter<byte> output, int index, string? id, string? name, string arguments) =>
        WriteChunk(output, (json, _) =>
        {
            json.WriteStartArray("tool_calls"u8);
            json.WriteStartObject();
            json.WriteNumber("index"u8, index);
            if (id is not null)
            {
                json.WriteString("id"u8, id);
                json.WriteString("type"u8, "function"u8);
            }

            json.WriteStartObject("function"u8);
            if (name is not null)
            {
                json.WriteString("name"u8, name);
            }

            json.WriteString("arguments"u8, arguments);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndArray();
        }, 0);

    /// <summary>
    /// Writes one chunk with one choice. For chat, <paramref name="writeDelta"/> fills <c>delta</c>; for
    /// text_completion, only text deltas exist and they become <c>text</c>.
    /// </summary>
    private void WriteChunk<T>(IBufferWriter<byte> output, Action<Utf8JsonWriter, T>? writeDelta, T state, string? finishReason = null)
    {
        var json = StartJson();
        WriteHeader(json);
        json.WriteStartArray("choices"u8);
        json.WriteStartObject();
        if (_shape == OpenAIWire.Shape.Chat)
        {
            json.WriteNumber("index"u8, 0);
            json.WriteStartObject("delta"u8);
            writeDelta?.Invoke(json, state);
            json.WriteEndObject();
        }
        else
        {
            json.WriteString("text"u8, state as string ?? string.Empty);
            json.WriteNumber("index"u8, 0);
        }

        json.WriteNull("logprobs"u8);
        if (finishReason is null)
        {
            json.WriteNull("finish_reason"u8);
        }
        else
        {
            json.WriteString("finish_reason"u8, finishReason);
        }

        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        Emit(output);
    }

    private void WriteUsageChunk(IBufferWriter<byte> output)
    {
        var json = StartJson();
        WriteHeader(json);
        json.WriteStartArray("choices"u8);
        json.WriteEndArray();
        OpenAIWire.WriteUsage(json, Usage);
        json.WriteEndObject();
        Emit(output);
    }

    private Utf8JsonWriter StartJson()
    {
        _json.ResetWrittenCount();
        _writer.Reset(_json);
        return _writer;
    }

    private void Emit(IBufferWriter<byte> output)
    {
        _writer.Flush();
        SseWriter.WriteEvent(output, null, _json.WrittenSpan);
    }

    /// <summary>
    /// The <c>type</c> string property of <paramref name="obj"/> as one of <paramref name="known"/> (null when it
    /// is another string), or <paramref name="fallback"/> when there is no <c>type</c> string: the decision
    /// <c>GetString(obj, "type") ?? fallback</c> made, without allocating the string.
    /// </summary>
    private static string? KnownType(JsonElement obj, string[] known, string? fallback)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty("type"u8, out var type) || type.ValueKind != JsonValueKind.String)
        {
            return fallback;
        }

        foreach (var name in known)
        {
            if (type.ValueEquals(name))
            {
                return name;
            }
        }

        return null;
    }

    private void WriteHeader(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, Id);
        json.WriteString("object"u8, _shape == OpenAIWire.Shape.Chat ? "chat.completion.chunk"u8 : "text_completion"u8);
        json.WriteNumber("created"u8, _created);
        json.WriteString("model"u8, _clientModel);
    }

    private void WriteError(string message, string type, string? code, IBufferWriter<byte> output)
    {
        SseWriter.WriteEvent(output, null, ErrorBodies.OpenAI(type, message, code));
        Finished = true;
    }

    private sealed class ToolState(int index)
    {
        public int Index { get; } = index;

        public bool HasArguments { get; set; }
    }
}
