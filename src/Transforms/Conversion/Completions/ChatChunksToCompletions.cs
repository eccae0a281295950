using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>
/// OpenAI <c>chat.completion.chunk</c> SSE → legacy <c>text_completion</c> chunks (docs/protocols.md §3.4).
/// </summary>
/// <remarks>
/// The id stays constant (§8 #35). Text and finish reason of one upstream chunk go out in one chunk (content
/// first: §8 #33). The upstream's usage is kept as it arrives (some servers send it on every chunk) and
/// written once, as the <c>choices: []</c> chunk just before <c>[DONE]</c>, when the client asked for it.
/// An upstream <c>{"error":…}</c>, or EOF before any finish reason, ends the stream with an error object and
/// no <c>[DONE]</c>: never a fake success (§8 #21).
/// </remarks>
internal sealed class ChatChunksToCompletions : IStreamConverter
{
    private readonly string _clientModel;
    private readonly bool _includeUsage;
    private readonly long _created;
    private readonly string? _fallbackIdSuffix;
    private string? _id;
    private byte[]? _usage;
    private bool _finishSent;

    public ChatChunksToCompletions(string clientModel, bool includeUsage, long created, string? fallbackIdSuffix)
    {
        _clientModel = clientModel;
        _includeUsage = includeUsage;
        _created = created;
        _fallbackIdSuffix = fallbackIdSuffix;
    }

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

        if (SseData.TrimWhiteSpace(upstreamEvent.DataUtf8.Span).SequenceEqual("[DONE]"u8))
        {
            // [DONE] without a finish reason: the upstream says it is done, so end with a finish chunk
            // rather than leave the client waiting for one (§8 #21).
            Finish(output);
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
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return;
            }

            if (root.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null)
            {
                var message = OpenAIWire.GetString(error, "message") ?? (error.ValueKind == JsonValueKind.String ? error.GetString() : null) ?? "upstream error";
                WriteError(message, OpenAIWire.GetString(error, "type") ?? "server_error", OpenAIWire.GetString(error, "code"), output);
                return;
            }

            _id ??= TextCompletionWire.IdFromChat(OpenAIWire.GetString(root, "id"), _fallbackIdSuffix);
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
            {
                TextCompletionWire.ReadOpenAIUsage(usage, Usage);
                _usage = OpenAIWire.Write(usage.WriteTo, 256);
            }

            // Don't index choices[0] blindly: usage-only chunks have choices: [] (§8 #3).
            if (_finishSent || !root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array)
            {
                return;
            }

            foreach (var choice in choices.EnumerateArray())
            {
                if (OpenAIWire.TryGetLong(choice, "index", out var index) && index != 0)
                {
                    continue;
                }

                var delta = choice.TryGetProperty("delta", out var d) ? d : default;
                var text = OpenAIWire.GetString(delta, "content");

                // "" is sent on every chunk by some gateways: it is not a finish (§8 #21).
                var finish = OpenAIWire.GetString(choice, "finish_reason");
                var mapped = string.IsNullOrEmpty(finish) ? null : TextCompletionWire.FinishReason(finish);
                if (!string.IsNullOrEmpty(text) || mapped is not null)
                {
                    WriteChunk(output, text ?? string.Empty, mapped);
                    _finishSent |= mapped is not null;
                }
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
            SseWriter.WriteComment(output, "keep-alive");
        }
    }

    private string Id => _id ??= TextCompletionWire.IdFromChat(null, _fallbackIdSuffix);

    private void Finish(IBufferWriter<byte> output)
    {
        if (!_finishSent)
        {
            WriteChunk(output, string.Empty, "stop");
            _finishSent = true;
        }

        if (_includeUsage && _usage is not null)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
            {
                WriteHeader(json);
                json.WriteStartArray("choices"u8);
                json.WriteEndArray();
                json.WritePropertyName("usage"u8);
                json.WriteRawValue(_usage, skipInputValidation: true);
                json.WriteEndObject();
            }

            SseWriter.WriteEvent(output, null, buffer.WrittenSpan);
        }

        SseWriter.WriteEvent(output, null, "[DONE]"u8);
        Finished = true;
    }

    private void WriteChunk(IBufferWriter<byte> output, string text, string? finishReason)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            WriteHeader(json);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteString("text"u8, text);
            json.WriteNumber("index"u8, 0);
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
        }

        SseWriter.WriteEvent(output, null, buffer.WrittenSpan);
    }

    private void WriteHeader(Utf8JsonWriter json)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, Id);
        json.WriteString("object"u8, "text_completion"u8);
        json.WriteNumber("created"u8, _created);
        json.WriteString("model"u8, _clientModel);
    }

    private void WriteError(string message, string type, string? code, IBufferWriter<byte> output)
    {
        SseWriter.WriteEvent(output, null, ErrorBodies.OpenAI(type, message, code));
        Finished = true;
    }
}
