using System.Buffers;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// OpenAI Chat Completions SSE (data-only chunks ended by <c>data: [DONE]</c>) → Anthropic Messages SSE,
/// as the state machine of docs/protocols.md §2.4. Every frame it writes has an <c>event:</c> line whose name
/// equals the JSON's <c>type</c> (the Anthropic SDKs ignore data-only frames: §8 #32); it never writes
/// <c>[DONE]</c> (§8 #23).
/// </summary>
/// <remarks>
/// Blocks are opened one at a time in the order the upstream's deltas arrive (thinking → text → tool_use
/// as Claude answers). A delta is only ever sent to the block that is open. Tool calls are streamed live
/// while they come one after another; a call that starts while the open call's arguments are still an
/// unbalanced JSON text (parallel calls with interleaved indices, §8 #4) is buffered and sent whole
/// (start → one delta → stop) when the upstream finishes, so no fragment ever targets a closed or
/// never-started block.
/// </remarks>
internal sealed class ChatToMessagesStream : IStreamConverter
{
    private readonly string _clientModel;
    private readonly ToolNameMap _toolNames;
    private readonly long _estimatedInputTokens;
    private readonly string _messageId;

    // One JSON buffer and writer, reset for every frame: no per-event allocation of either.
    private readonly ArrayBufferWriter<byte> _json = new(1024);
    private readonly Utf8JsonWriter _writer;

    private readonly Dictionary<long, ToolCall> _byIndex = [];
    private readonly Dictionary<string, ToolCall> _byId = new(StringComparer.Ordinal);
    private readonly Dictionary<int, ToolCall> _byPosition = [];
    private readonly List<ToolCall> _buffered = [];
    private int _toolCount;

    private bool _begun;
    private int _nextIndex;
    private BlockKind _open;
    private int _openIndex;
    private ToolCall? _openTool;

    private bool _sawFinish;
    private bool _sawDone;
    private bool _refused;
    private string? _finishReason;
    private string? _matchedStop;

    /// <summary>Creates the converter for one response.</summary>
    /// <param name="clientModel">The model name the client asked for; it goes in <c>message_start</c>.</param>
    /// <param name="toolNames">Maps shortened upstream tool names back to the client's.</param>
    /// <param name="estimatedInputTokens">The input estimate for <c>message_start</c>, before the usage chunk.</param>
    /// <param name="messageId">The message id (tests inject a fixed one; production uses a random one).</param>
    internal ChatToMessagesStream(string clientModel, ToolNameMap toolNames, long estimatedInputTokens, string messageId)
    {
        ArgumentNullException.ThrowIfNull(clientModel);
        ArgumentNullException.ThrowIfNull(toolNames);
        ArgumentNullException.ThrowIfNull(messageId);
        _clientModel = clientModel;
        _toolNames = toolNames;
        _estimatedInputTokens = Math.Max(0, estimatedInputTokens);
        _messageId = messageId;
        _writer = new Utf8JsonWriter(_json, ChatMapping.WriterOptions);
        Usage.InputTokens = _estimatedInputTokens;
    }

    private enum BlockKind
    {
        None,
        Thinking,
        Text,
        Tool,
    }

    /// <inheritdoc />
    public bool Finished { get; private set; }

    /// <inheritdoc />
    public StreamUsage Usage { get; } = new();

    /// <inheritdoc />
    public void Begin(IBufferWriter<byte> output)
    {
        if (_begun || Finished)
        {
            return;
        }

        _begun = true;
        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "message_start");
        w.WriteStartObject("message"u8);
        w.WriteString("id"u8, _messageId);
        w.WriteString("type"u8, "message");
        w.WriteString("role"u8, "assistant");
        w.WriteString("model"u8, _clientModel);
        w.WriteStartArray("content"u8);
        w.WriteEndArray();
        w.WriteNull("stop_reason"u8);
        w.WriteNull("stop_sequence"u8);
        w.WriteStartObject("usage"u8);
        w.WriteNumber("input_tokens"u8, _estimatedInputTokens);
        w.WriteNumber("output_tokens"u8, 0);

        // Explicit zeros say "caching is supported" (LiteLLM); the real values come in message_delta.
        w.WriteNumber("cache_creation_input_tokens"u8, 0);
        w.WriteNumber("cache_read_input_tokens"u8, 0);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        Emit(output, "message_start");
    }

    /// <inheritdoc />
    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished || upstreamEvent.IsComment)
        {
            // Comments are keep-alives (OpenRouter's ": OPENROUTER PROCESSING"); nothing to forward.
            return;
        }

        Begin(output);
        // On the UTF-8 bytes, trimmed as string.Trim() did: no string per event.
        var data = SseData.TrimWhiteSpace(upstreamEvent.DataUtf8.Span);
        if (data.IsEmpty)
        {
            return;
        }

        if (data.SequenceEqual("[DONE]"u8))
        {
            _sawDone = true;
            Complete(output);
            return;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(upstreamEvent.DataUtf8);
        }
        catch (JsonException)
        {
            // Skipping it could silently lose content: say so instead (never a fake success).
            WriteError(output, "api_error", "the upstream sent a stream chunk that is not valid JSON");
            return;
        }

        using (document)
        {
            var root = document.RootElement;
            if (upstreamEvent.EventType == "error")
            {
                // An upstream that names its error frames (event: error).
                var error = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var inner) ? inner : root;
                WriteError(output, ChatMapping.MapErrorType(error), ChatMapping.ErrorMessage(error));
                return;
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            ConvertChunk(root, output);
        }
    }

    private void ConvertChunk(JsonElement root, IBufferWriter<byte> output)
    {
        if (root.TryGetProperty("error", out var error) && error.ValueKind is JsonValueKind.Object or JsonValueKind.String)
        {
            // A mid-stream error (openai-python raises on any data object with an "error" key): §5.
            WriteError(output, ChatMapping.MapErrorType(error), ChatMapping.ErrorMessage(error));
            return;
        }

        // Usage may come in its own chunk (choices: []), in the finish chunk, or in every chunk: the
        // latest wins. Never index choices[0] of a usage-only chunk (§8 #3).
        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            ChatMapping.ReadUsage(usage, Usage);
        }

        var hasChoices = false;
        if (root.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                // One Anthropic message per response: only choice 0 (n > 1 has no Anthropic counterpart).
                if (choice.ValueKind != JsonValueKind.Object || (ChatMapping.GetLong(choice, "index") ?? 0) != 0)
                {
                    continue;
                }

                hasChoices = true;
                ConvertChoice(choice, output);
                if (Finished)
                {
                    return;
                }
            }
        }

        if (!hasChoices && _sawFinish && usage.ValueKind == JsonValueKind.Object)
        {
            // The usage chunk after the finish chunk: the answer is complete (§2.4 step 7).
            Complete(output);
        }
    }

    private void ConvertChoice(JsonElement choice, IBufferWriter<byte> output)
    {
        // Content first, then finish_reason: fake-streaming providers put both in one chunk (§8 #33).
        if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object)
        {
            ConvertDelta(delta, output);
        }

        var finishReason = ChatMapping.GetString(choice, "finish_reason");
        if (string.IsNullOrEmpty(finishReason))
        {
            // Some gateways send finish_reason: "" on every chunk: it means nothing (§8 #21).
            return;
        }

        if (finishReason == "error")
        {
            // OpenRouter's mid-stream error signal (§5).
            WriteError(output, "api_error", "the upstream reported an error while generating (finish_reason \"error\")");
            return;
        }

        CloseOpen(output);
        FlushBufferedTools(output);
        _sawFinish = true;
        _finishReason = finishReason;
        _matchedStop = ChatResponseReader.MatchedStop(choice);

        // message_delta is held: the usage chunk normally comes next (§2.4 step 5).
    }

    private void ConvertDelta(JsonElement delta, IBufferWriter<byte> output)
    {
        if (ChatResponseReader.ReadReasoning(delta) is { Length: > 0 } reasoning)
        {
            Open(BlockKind.Thinking, output);
            var w = StartJson();
            WriteDeltaHead(w, "thinking_delta");
            w.WriteString("thinking"u8, reasoning);
            EndDelta(output);
        }

        if (ChatResponseReader.ReadContentText(delta) is { Length: > 0 } text)
        {
            WriteText(text, output);
        }

        if (ChatMapping.GetString(delta, "refusal") is { Length: > 0 } refusal)
        {
            _refused = true;
            WriteText(refusal, output);
        }

        if (delta.TryGetProperty("tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            // Every entry, one by one: LiteLLM once merged all entries of a chunk into one partial_json.
            var position = 0;
            foreach (var call in toolCalls.EnumerateArray())
            {
                if (call.ValueKind == JsonValueKind.Object)
                {
                    ConvertToolCall(call, position, output);
                }

                position++;
            }
        }
        else if (delta.TryGetProperty("function_call", out var legacy) && legacy.ValueKind == JsonValueKind.Object)
        {
            // The deprecated single function_call: one call, as if at index 0.
            ConvertToolFragment(0, null, ChatMapping.GetString(legacy, "name"), ChatResponseReader.ArgumentsText(legacy), 0, output);
        }
    }

    private void WriteText(string text, IBufferWriter<byte> output)
    {
        // Text after tool calls is legal: it opens a new text block (1rgs drops it).
        Open(BlockKind.Text, output);
        var w = StartJson();
        WriteDeltaHead(w, "text_delta");
        w.WriteString("text"u8, text);
        EndDelta(output);
    }

    private void ConvertToolCall(JsonElement call, int position, IBufferWriter<byte> output)
    {
        long? index = call.TryGetProperty("index", out var i) && i.ValueKind == JsonValueKind.Number && i.TryGetInt64(out var n) ? n : null;
        var id = ChatMapping.GetString(call, "id");
        string? name = null;
        string? arguments = null;
        if (call.TryGetProperty("function", out var function) && function.ValueKind == JsonValueKind.Object)
        {
            name = ChatMapping.GetString(function, "name");
            arguments = ChatResponseReader.ArgumentsText(function);
        }

        ConvertToolFragment(index, string.IsNullOrEmpty(id) ? null : id, string.IsNullOrEmpty(name) ? null : name, arguments, position, output);
    }

    /// <summary>
    /// One tool-call fragment. The call is found by <c>index</c>; without one, by <c>id</c>; without
    /// either, by its position in the chunk's array (§8 #5). A fragment with a known index but a
    /// different id is a new call (upstreams that give every call index 0).
    /// </summary>
    private void ConvertToolFragment(long? index, string? id, string? name, string? arguments, int position, IBufferWriter<byte> output)
    {
        ToolCall? call = null;
        if (index is { } key)
        {
            if (_byIndex.TryGetValue(key, out call) && id is not null && call.Id is not null && call.Id != id)
            {
                call = null;
            }
        }
        else if (id is not null)
        {
            _byId.TryGetValue(id, out call);
        }
        else
        {
            _byPosition.TryGetValue(position, out call);
        }

        if (call is null)
        {
            call = new ToolCall(_toolCount++) { Id = id, Name = name };
            if (index is { } k)
            {
                _byIndex[k] = call;
            }

            if (id is not null)
            {
                _byId[id] = call;
            }

            _byPosition[position] = call;

            // Stream it live unless that could route a later fragment to a closed block: another call is
            // already buffered (keep the order), or the open call's arguments are not complete yet
            // (interleaved parallel calls), or there is no name to start the block with.
            if (name is null || _buffered.Count > 0 || (_open == BlockKind.Tool && !_openTool!.Scanner.IsComplete))
            {
                call.Buffered = true;
                _buffered.Add(call);
            }
            else
            {
                StartTool(call, output);
            }
        }
        else
        {
            if (call.Id is null && id is not null)
            {
                call.Id = id;
                _byId[id] = call;
            }

            call.Name ??= name;
        }

        if (string.IsNullOrEmpty(arguments))
        {
            return;
        }

        if (call.Buffered)
        {
            (call.Arguments ??= new StringBuilder()).Append(arguments);
        }
        else if (ReferenceEquals(call, _openTool))
        {
            // Relayed unchanged (the JSON string is escaped for the frame, its value is the same), and
            // at once, even in the chunk that started the block (§8 #1).
            call.HasArguments = true;
            call.Scanner.Feed(arguments);
            var w = StartJson();
            WriteDeltaHead(w, "input_json_delta");
            w.WriteString("partial_json"u8, arguments);
            EndDelta(output);
        }

        // Else the call's block is closed. It was complete JSON when the next block opened (otherwise
        // the next call would have been buffered), so a further fragment can only be whitespace, or
        // garbage no client could use: it is dropped rather than sent to a closed block (§8 #4).
    }

    private void StartTool(ToolCall call, IBufferWriter<byte> output)
    {
        CloseOpen(output);
        _open = BlockKind.Tool;
        _openIndex = _nextIndex++;
        _openTool = call;
        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "content_block_start");
        w.WriteNumber("index"u8, _openIndex);
        w.WriteStartObject("content_block"u8);
        w.WriteString("type"u8, "tool_use");
        w.WriteString("id"u8, ChatResponseReader.ToolUseId(call.Id, _messageId, call.Ordinal));
        w.WriteString("name"u8, _toolNames.ToClient(call.Name!));

        // Empty input: SDK accumulators build it from the deltas only (§8 #2).
        w.WriteStartObject("input"u8);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
        Emit(output, "content_block_start");
    }

    /// <summary>Sends each buffered call whole: start → one delta → stop.</summary>
    private void FlushBufferedTools(IBufferWriter<byte> output)
    {
        if (_buffered.Count == 0)
        {
            return;
        }

        foreach (var call in _buffered)
        {
            if (call.Name is null)
            {
                // A call that never got a name cannot be run by the client; there is nothing to start.
                continue;
            }

            call.Buffered = false;
            StartTool(call, output);
            if (call.Arguments is { Length: > 0 } arguments)
            {
                call.HasArguments = true;
                var w = StartJson();
                WriteDeltaHead(w, "input_json_delta");
                w.WriteString("partial_json"u8, arguments.ToString());
                EndDelta(output);
            }

            CloseOpen(output);
        }

        _buffered.Clear();
    }

    /// <summary>Makes <paramref name="kind"/> (thinking or text) the open block, closing another one.</summary>
    private void Open(BlockKind kind, IBufferWriter<byte> output)
    {
        if (_open == kind)
        {
            return;
        }

        CloseOpen(output);
        _open = kind;
        _openIndex = _nextIndex++;
        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "content_block_start");
        w.WriteNumber("index"u8, _openIndex);
        w.WriteStartObject("content_block"u8);
        if (kind == BlockKind.Thinking)
        {
            // signature "" present from the start: some clients reject thinking blocks without it (§8 #14).
            w.WriteString("type"u8, "thinking");
            w.WriteString("thinking"u8, string.Empty);
            w.WriteString("signature"u8, string.Empty);
        }
        else
        {
            w.WriteString("type"u8, "text");
            w.WriteString("text"u8, string.Empty);
        }

        w.WriteEndObject();
        w.WriteEndObject();
        Emit(output, "content_block_start");
    }

    private void CloseOpen(IBufferWriter<byte> output)
    {
        switch (_open)
        {
            case BlockKind.None:
                return;
            case BlockKind.Thinking:
            {
                // The gateway's marker (GatewayThinking), not an Anthropic signature: it lets the gateway
                // strip this block should the conversation later reach a real Anthropic upstream (§7).
                var w = StartJson();
                WriteDeltaHead(w, "signature_delta");
                w.WriteString("signature"u8, GatewayThinking.Signature);
                EndDelta(output);
                break;
            }

            case BlockKind.Tool when !_openTool!.HasArguments:
            {
                // A call without arguments still needs a valid input for the client's accumulator.
                var w = StartJson();
                WriteDeltaHead(w, "input_json_delta");
                w.WriteString("partial_json"u8, "{}");
                EndDelta(output);
                break;
            }

            default:
                break;
        }

        var stop = StartJson();
        stop.WriteStartObject();
        stop.WriteString("type"u8, "content_block_stop");
        stop.WriteNumber("index"u8, _openIndex);
        stop.WriteEndObject();
        Emit(output, "content_block_stop");
        _open = BlockKind.None;
        _openTool = null;
    }

    /// <summary>The upstream finished: close everything, then message_delta and message_stop.</summary>
    private void Complete(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return;
        }

        Begin(output);
        CloseOpen(output);
        FlushBufferedTools(output);
        var (stopReason, stopSequence) = _refused
            ? ("refusal", null)
            : ChatMapping.MapFinishReason(_finishReason, _toolCount > 0, _matchedStop);

        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "message_delta");
        w.WriteStartObject("delta"u8);
        w.WriteString("stop_reason"u8, stopReason);
        if (stopSequence is null)
        {
            w.WriteNull("stop_sequence"u8);
        }
        else
        {
            w.WriteString("stop_sequence"u8, stopSequence);
        }

        w.WriteEndObject();
        w.WriteStartObject("usage"u8);
        w.WriteNumber("input_tokens"u8, Usage.InputTokens);
        w.WriteNumber("output_tokens"u8, Usage.OutputTokens);
        w.WriteNumber("cache_creation_input_tokens"u8, Usage.CacheCreationInputTokens);
        w.WriteNumber("cache_read_input_tokens"u8, Usage.CacheReadInputTokens);
        w.WriteEndObject();
        w.WriteEndObject();
        Emit(output, "message_delta");

        w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "message_stop");
        w.WriteEndObject();
        Emit(output, "message_stop");
        Finished = true;
    }

    /// <inheritdoc />
    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        if (_sawFinish || _sawDone)
        {
            Complete(output);
            return true;
        }

        // EOF with neither a finish_reason nor [DONE]: the answer is cut. Close what is open so the
        // client's accumulator stays consistent, then report it: never a fake end_turn (§8 #21).
        CloseOpen(output);
        WriteError(output, "api_error", "upstream stream ended before it finished");
        return false;
    }

    /// <inheritdoc />
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            WriteError(output, anthropicErrorType, message);
        }
    }

    /// <inheritdoc />
    public void Ping(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return;
        }

        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "ping");
        w.WriteEndObject();
        Emit(output, "ping");
    }

    /// <summary>An Anthropic <c>event: error</c>; it ends the stream (no message_stop after it: §2.4 step 8).</summary>
    private void WriteError(IBufferWriter<byte> output, string type, string message)
    {
        var w = StartJson();
        w.WriteStartObject();
        w.WriteString("type"u8, "error");
        w.WriteStartObject("error"u8);
        w.WriteString("type"u8, type);
        w.WriteString("message"u8, message);
        w.WriteEndObject();
        w.WriteEndObject();
        Emit(output, "error");
        Finished = true;
    }

    private void WriteDeltaHead(Utf8JsonWriter w, string deltaType)
    {
        w.WriteStartObject();
        w.WriteString("type"u8, "content_block_delta");
        w.WriteNumber("index"u8, _openIndex);
        w.WriteStartObject("delta"u8);
        w.WriteString("type"u8, deltaType);
    }

    private void EndDelta(IBufferWriter<byte> output)
    {
        _writer.WriteEndObject();
        _writer.WriteEndObject();
        Emit(output, "content_block_delta");
    }

    private Utf8JsonWriter StartJson()
    {
        _json.ResetWrittenCount();
        _writer.Reset(_json);
        return _writer;
    }

    private void Emit(IBufferWriter<byte> output, string eventType)
    {
        _writer.Flush();
        SseWriter.WriteEvent(output, eventType, _json.WrittenSpan);
    }

    /// <summary>One upstream tool call, in the order it first appeared.</summary>
    private sealed class ToolCall(int ordinal)
    {
        public int Ordinal { get; } = ordinal;

        public string? Id { get; set; }

        public string? Name { get; set; }

        public bool Buffered { get; set; }

        public bool HasArguments { get; set; }

        public StringBuilder? Arguments { get; set; }

        public JsonCompletenessScanner Scanner;
    }
}
