using System.Buffers;
using System.Text.Json.Nodes;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// A Responses stream relayed to a Responses client as it came, with the client's model name in the <c>response</c>
/// objects (<c>response.created</c> … <c>response.completed</c>); every other event passes byte for byte. Reads the
/// usage of the final response, and hands that response to <paramref name="onAnswer"/> when the gateway keeps it.
/// A stream that ends without <c>response.completed</c>, <c>response.incomplete</c> or <c>response.failed</c> ends
/// with an <c>error</c> event.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="onAnswer">Receives the final <c>response</c> object; null when nothing is kept.</param>
internal sealed class ResponsesPassthroughStream(string clientModel, Action<byte[]>? onAnswer) : IStreamConverter
{
    private long _lastSequence = -1;

    public bool Finished { get; private set; }

    public StreamUsage Usage { get; } = new();

    public void Begin(IBufferWriter<byte> output)
    {
    }

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

        var type = upstreamEvent.EventType;
        if (type is not ("response.created" or "response.in_progress" or "response.completed" or "response.incomplete" or "response.failed")
            || JsonNode.Parse(upstreamEvent.DataUtf8.Span) is not JsonObject data || data["response"] is not JsonObject response)
        {
            Remember(upstreamEvent.DataUtf8.Span);
            Finished = type == "error";
            SseWriter.WriteEvent(output, type, upstreamEvent.DataUtf8.Span);
            return;
        }

        if (data["sequence_number"] is JsonValue sequence && sequence.TryGetValue<long>(out var number))
        {
            _lastSequence = number;
        }

        response["model"] = clientModel;
        var bytes = JsonSerializer.SerializeToUtf8Bytes(data, ResponsesWire.JsonOptions);
        SseWriter.WriteEvent(output, type, bytes);
        if (type is "response.completed" or "response.incomplete" or "response.failed")
        {
            Finished = true;
            var final = JsonSerializer.SerializeToUtf8Bytes(response, ResponsesWire.JsonOptions);
            if (UsageReader.Read(WireProtocol.OpenAI, final) is { } usage)
            {
                (Usage.InputTokens, Usage.OutputTokens, Usage.CacheReadInputTokens) = (usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens);
            }

            if (type != "response.failed")
            {
                onAnswer?.Invoke(final);
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
        if (Finished)
        {
            return;
        }

        Finished = true;
        SseWriter.WriteEvent(output, "error", OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "error"u8);
            json.WriteNumber("sequence_number"u8, _lastSequence + 1);
            json.WriteString("code"u8, anthropicErrorType is "overloaded_error" or "rate_limit_error" ? "rate_limit_exceeded" : "server_error");
            json.WriteString("message"u8, message);
            json.WriteNull("param"u8);
            json.WriteEndObject();
        }));
    }

    public void Ping(IBufferWriter<byte> output)
    {
        if (!Finished)
        {
            SseWriter.WriteComment(output, "keep-alive");
        }
    }

    // The last sequence number seen, so an error frame the gateway adds follows on from it.
    private void Remember(ReadOnlySpan<byte> data)
    {
        var at = data.IndexOf("\"sequence_number\":"u8);
        if (at >= 0 && System.Buffers.Text.Utf8Parser.TryParse(data[(at + 18)..], out long number, out _))
        {
            _lastSequence = number;
        }
    }
}
