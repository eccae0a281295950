using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion.Passthrough;

/// <summary>
/// An Anthropic stream relayed to an Anthropic client: every event as the upstream sent it, except that
/// <c>message_start</c> reports the client's model name. Usage is read from <c>message_start</c> and
/// <c>message_delta</c>. A stream that ends before <c>message_stop</c> ends with an error event.
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
            SseWriter.WriteComment(output, upstreamEvent.Data);
            return;
        }

        var data = upstreamEvent.Data;
        switch (upstreamEvent.EventType)
        {
            case "message_start":
                data = StartWithClientModel(data);
                break;
            case "message_delta":
                ReadUsage(data, "usage");
                break;
            case "message_stop":
            case "error":
                Finished = true;
                break;
        }

        SseWriter.WriteEvent(output, upstreamEvent.EventType, data);
    }

    /// <inheritdoc />
    public void End(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            Fail("api_error", "the upstream closed the stream before message_stop", output);
        }
    }

    /// <inheritdoc />
    public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
    {
        StreamFrames.AnthropicError(output, anthropicErrorType, message);
        Finished = true;
    }

    /// <inheritdoc />
    public void Ping(IBufferWriter<byte> output) => StreamFrames.AnthropicPing(output);

    private string StartWithClientModel(string data)
    {
        try
        {
            if (JsonNode.Parse(data) is JsonObject root && root["message"] is JsonObject message)
            {
                ReadUsage(message["usage"]);
                if (message["model"]?.GetValue<string>() != _clientModel)
                {
                    message["model"] = _clientModel;
                    return root.ToJsonString();
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not ours to fix: relay the event as the upstream sent it.
        }

        return data;
    }

    private void ReadUsage(string data, string property)
    {
        try
        {
            ReadUsage(JsonNode.Parse(data)?[property]);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
        }
    }

    private void ReadUsage(JsonNode? usage)
    {
        if (usage is not JsonObject u)
        {
            return;
        }

        // message_delta usage is cumulative, so the latest value of each field is the answer's.
        Usage.InputTokens = Read(u, "input_tokens") ?? Usage.InputTokens;
        Usage.OutputTokens = Read(u, "output_tokens") ?? Usage.OutputTokens;
        Usage.CacheReadInputTokens = Read(u, "cache_read_input_tokens") ?? Usage.CacheReadInputTokens;
        Usage.CacheCreationInputTokens = Read(u, "cache_creation_input_tokens") ?? Usage.CacheCreationInputTokens;
    }

    private static long? Read(JsonObject usage, string name) =>
        usage[name] is JsonValue v && v.TryGetValue(out long n) ? n : null;
}
