using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Anthropic;

/// <summary>
/// An Anthropic stream relayed to an Anthropic client: every event as the upstream sent it, except that
/// <c>message_start</c> reports the client's model name. Usage is read from <c>message_start</c> and
/// <c>message_delta</c>. A stream that ends before <c>message_stop</c> ends with an error event. Every event
/// but a <c>message_start</c> that names another model is relayed as the upstream's bytes (no string, no
/// re-serialising).
/// </summary>
public sealed class AnthropicPassthroughStream : IStreamConverter
{
    private readonly string _clientModel;

    /// <summary>Creates the relay for one response.</summary>
    public AnthropicPassthroughStream(string clientModel) => _clientModel = clientModel;

    /// <inheritdoc />
    public bool Finished { get; private set; }

    /// <inheritdoc />
    public StreamUsage Usage { get; } = new();

    /// <inheritdoc />
    public void Begin(IBufferWriter<byte> output)
    {
        // The upstream sends its own message_start.
    }

    /// <inheritdoc />
    public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return;
        }

        if (upstreamEvent.IsComment)
        {
            SseWriter.WriteComment(output, upstreamEvent.DataUtf8.Span);
            return;
        }

        var data = upstreamEvent.DataUtf8;
        switch (upstreamEvent.EventType)
        {
            case "message_start":
                if (TryStartWithClientModel(data, out var rewritten))
                {
                    SseWriter.WriteEvent(output, upstreamEvent.EventType, rewritten.WrittenSpan);
                    return;
                }

                break;
            case "message_delta":
                ReadDeltaUsage(data);
                break;
            case "message_stop":
            case "error":
                Finished = true;
                break;
        }

        // Every other event: the upstream's bytes, re-framed, untouched.
        SseWriter.WriteEvent(output, upstreamEvent.EventType, data.Span);
    }

    /// <inheritdoc />
    public bool End(IBufferWriter<byte> output)
    {
        if (Finished)
        {
            return true;
        }

        Fail("api_error", "the upstream closed the stream before message_stop", output);
        return false;
    }

    /// <inheritdoc />
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        StreamFrames.AnthropicError(output, anthropicErrorType, message);
        Finished = true;
    }

    /// <inheritdoc />
    public void Ping(IBufferWriter<byte> output) => StreamFrames.AnthropicPing(output);

    /// <summary>
    /// Reads message_start's usage and, when its <c>message.model</c> is not the client's, writes the event
    /// again with the client's model: in place, or appended to <c>message</c> when it had none. The rest is
    /// re-serialised as <c>JsonNode.ToJsonString()</c> did (default encoder, compact), so the output is
    /// byte-identical to the former <c>JsonNode</c> rewrite. Once per stream.
    /// </summary>
    /// <returns><see langword="false"/> to relay the event as the upstream sent it.</returns>
    private bool TryStartWithClientModel(ReadOnlyMemory<byte> data, [NotNullWhen(true)] out ArrayBufferWriter<byte>? rewritten)
    {
        rewritten = null;
        try
        {
            using var document = JsonDocument.Parse(data);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("message"u8, out var message)
                || message.ValueKind != JsonValueKind.Object)
            {
                return false;
            }

            if (message.TryGetProperty("usage"u8, out var usage))
            {
                ReadUsage(usage);
            }

            var hasModel = message.TryGetProperty("model"u8, out var model) && model.ValueKind != JsonValueKind.Null;
            if (hasModel)
            {
                if (model.ValueKind != JsonValueKind.String)
                {
                    // Not ours to fix: relay the event as the upstream sent it.
                    return false;
                }

                if (model.ValueEquals(_clientModel))
                {
                    return false;
                }
            }

            var buffer = new ArrayBufferWriter<byte>(data.Length + _clientModel.Length + 16);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                foreach (var property in root.EnumerateObject())
                {
                    if (!property.NameEquals("message"u8))
                    {
                        property.WriteTo(json);
                        continue;
                    }

                    json.WritePropertyName(property.Name);
                    WriteMessageWithClientModel(json, property.Value);
                }

                json.WriteEndObject();
            }

            rewritten = buffer;
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not ours to fix: relay the event as the upstream sent it.
            rewritten = null;
            return false;
        }
    }

    private void WriteMessageWithClientModel(Utf8JsonWriter json, JsonElement message)
    {
        json.WriteStartObject();
        var wroteModel = false;
        foreach (var property in message.EnumerateObject())
        {
            if (property.NameEquals("model"u8))
            {
                json.WritePropertyName(property.Name);
                json.WriteStringValue(_clientModel);
                wroteModel = true;
            }
            else
            {
                property.WriteTo(json);
            }
        }

        if (!wroteModel)
        {
            json.WriteString("model", _clientModel);
        }

        json.WriteEndObject();
    }

    private void ReadDeltaUsage(ReadOnlyMemory<byte> data)
    {
        try
        {
            using var document = JsonDocument.Parse(data);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("usage"u8, out var usage))
            {
                ReadUsage(usage);
            }
        }
        catch (JsonException)
        {
        }
    }

    private void ReadUsage(JsonElement usage)
    {
        if (usage.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        // message_delta usage is cumulative, so the latest value of each field is the answer's.
        Usage.InputTokens = Read(usage, "input_tokens"u8) ?? Usage.InputTokens;
        Usage.OutputTokens = Read(usage, "output_tokens"u8) ?? Usage.OutputTokens;
        Usage.CacheReadInputTokens = Read(usage, "cache_read_input_tokens"u8) ?? Usage.CacheReadInputTokens;
        Usage.CacheCreationInputTokens = Read(usage, "cache_creation_input_tokens"u8) ?? Usage.CacheCreationInputTokens;
    }

    private static long? Read(JsonElement usage, ReadOnlySpan<byte> name) =>
        usage.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) ? n : null;
}
