using System.Buffers;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Anthropic Messages SSE → a Gemini <c>streamGenerateContent</c> stream, one <c>GenerateContentResponse</c> per
/// piece as it comes: a text delta is a text part, a thinking delta a <c>thought: true</c> part (no signature: the
/// proof is Anthropic's), and a tool_use block, once its input is complete, one <c>functionCall</c> part whose
/// <c>id</c> is the tool id. The last chunk carries <c>finishReason</c> and <c>usageMetadata</c>. An Anthropic error
/// event, or an end before <c>message_stop</c>, is Google's error object, and the stream ends there.
/// </summary>
/// <param name="clientModel">The model the client asked for (<c>modelVersion</c>).</param>
/// <param name="jsonArray">True for a JSON-array stream (no <c>alt=sse</c>), false for SSE.</param>
internal sealed class MessagesStreamToGemini(string clientModel, bool jsonArray)
    : JsonEventStream("the upstream stream ended before the answer was finished")
{
    private readonly GeminiFrames _frames = new(jsonArray);
    private readonly StringBuilder _arguments = new();

    // Each chunk's JSON is built here, then framed into the output: one buffer and writer for the whole stream.
    private readonly ArrayBufferWriter<byte> _buffer = new(256);
    private Utf8JsonWriter? _json;
    private string _responseId = GeminiWire.NewResponseId();
    private (string Id, string Name)? _tool;
    private string? _stopReason;

    public override void Begin(IBufferWriter<byte> output) => _frames.Open(output);

    protected override void Read(JsonElement data, string? eventType, IBufferWriter<byte> output)
    {
        switch (OpenAIWire.GetString(data, "type") ?? eventType)
        {
            case "message_start" when data.TryGetProperty("message", out var message):
                _responseId = GeminiWire.ResponseId(OpenAIWire.GetString(message, "id"));

                if (message.TryGetProperty("usage", out var startUsage))
                {
                    OpenAIWire.ReadAnthropicUsage(startUsage, Usage);
                }

                break;
            case "content_block_start" when data.TryGetProperty("content_block", out var block) && OpenAIWire.GetString(block, "type") == "tool_use":
                _tool = (OpenAIWire.GetString(block, "id") ?? "toolu_" + OpenAIWire.RandomSuffix(), OpenAIWire.GetString(block, "name") ?? string.Empty);
                _arguments.Clear();
                break;
            case "content_block_delta" when data.TryGetProperty("delta", out var delta):
                switch (OpenAIWire.GetString(delta, "type"))
                {
                    case "text_delta" when OpenAIWire.GetString(delta, "text") is { Length: > 0 } text:
                        TextPart(BeginChunk(), text, thought: false);
                        EndChunk(output, finishReason: null);
                        break;
                    case "thinking_delta" when OpenAIWire.GetString(delta, "thinking") is { Length: > 0 } thinking:
                        TextPart(BeginChunk(), thinking, thought: true);
                        EndChunk(output, finishReason: null);
                        break;
                    case "input_json_delta" when _tool is not null:
                        _arguments.Append(OpenAIWire.GetString(delta, "partial_json"));
                        break;
                }

                break;
            case "content_block_stop" when _tool is { } tool:
                _tool = null;
                FunctionCallPart(BeginChunk(), tool.Id, tool.Name, _arguments.ToString());
                EndChunk(output, finishReason: null);
                break;
            case "message_delta":
                _stopReason = StreamFrames.ReadMessageDelta(data, Usage) ?? _stopReason;
                break;
            case "message_stop":
                Finish(output);
                break;
            case "error":
                var (errorType, errorMessage) = StreamFrames.ReadAnthropicError(data);
                Fail(errorType, errorMessage, output);
                break;
            default:
                // ping, text and thinking block starts and stops, signature deltas: nothing a Gemini client reads.
                break;
        }
    }

    protected override void WriteError(string anthropicErrorType, string message, IBufferWriter<byte> output) =>
        _frames.Error(output, anthropicErrorType, message);

    protected override void WritePing(IBufferWriter<byte> output) => _frames.Ping(output);

    private void Finish(IBufferWriter<byte> output)
    {
        // The last chunk: no parts, the finish reason and the usage.
        BeginChunk();
        EndChunk(output, GeminiWire.FinishReason(_stopReason));
        _frames.Close(output);
        Finished = true;
    }

    // Starts a chunk; the caller writes its parts (none, or one), then EndChunk frames it.
    private Utf8JsonWriter BeginChunk()
    {
        _buffer.ResetWrittenCount();
        var json = _json ??= new Utf8JsonWriter(_buffer, OpenAIWire.WriterOptions);
        json.Reset();
        json.WriteStartObject();
        json.WriteStartArray("candidates"u8);
        json.WriteStartObject();
        json.WriteStartObject("content"u8);
        json.WriteString("role"u8, "model"u8);
        json.WriteStartArray("parts"u8);
        return json;
    }

    private void EndChunk(IBufferWriter<byte> output, string? finishReason)
    {
        var json = _json!;
        json.WriteEndArray();
        json.WriteEndObject();
        if (finishReason is not null)
        {
            json.WriteString("finishReason"u8, finishReason);
        }

        json.WriteNumber("index"u8, 0);
        json.WriteEndObject();
        json.WriteEndArray();
        if (finishReason is not null)
        {
            GeminiWire.WriteUsage(json, Usage);
        }

        json.WriteString("responseId"u8, _responseId);
        json.WriteString("modelVersion"u8, clientModel);
        json.WriteEndObject();
        json.Flush();
        _frames.Write(output, _buffer.WrittenSpan);
    }

    internal static void TextPart(Utf8JsonWriter json, string text, bool thought)
    {
        json.WriteStartObject();
        json.WriteString("text"u8, text);
        if (thought)
        {
            json.WriteBoolean("thought"u8, true);
        }

        json.WriteEndObject();
    }

    internal static void FunctionCallPart(Utf8JsonWriter json, string id, string name, string? arguments)
    {
        json.WriteStartObject();
        json.WriteStartObject("functionCall"u8);
        json.WriteString("id"u8, id);
        json.WriteString("name"u8, name);
        json.WritePropertyName("args"u8);
        ToolArguments.WriteAsInput(json, arguments);
        json.WriteEndObject();
        json.WriteEndObject();
    }
}
