using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;

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
/// <param name="toolNames">How the request shortened tool names, to give them back.</param>
internal sealed class ResponsesStreamToMessages(string clientModel, long estimatedInputTokens, ToolNameMap toolNames)
    : JsonEventsToMessages(clientModel, estimatedInputTokens, "the upstream stream ended before the response was finished")
{
    private bool _calledTools;

    protected override void Read(JsonElement data, string? eventType, IBufferWriter<byte> output)
    {
        var open = Writer.OpenBlock;
        switch (OpenAIWire.GetString(data, "type") ?? eventType)
        {
            case "response.created":
                Start(data.TryGetProperty("response", out var created) ? OpenAIWire.GetString(created, "id") : null, output);
                break;
            case "response.output_item.added" when data.TryGetProperty("item", out var item):
                switch (OpenAIWire.GetString(item, "type"))
                {
                    case "function_call":
                        _calledTools = true;
                        Start(null, output);
                        Writer.Open("tool_use", output, json =>
                        {
                            json.WriteString("id"u8, OpenAIWire.GetString(item, "call_id") ?? "call_" + OpenAIWire.RandomSuffix());
                            json.WriteString("name"u8, toolNames.ToClient(OpenAIWire.GetString(item, "name") ?? string.Empty));
                            json.WriteStartObject("input"u8);
                            json.WriteEndObject();
                        });
                        break;
                    case "reasoning":
                        Start(null, output);
                        Writer.OpenThinking(output);
                        break;
                }

                break;
            case "response.content_part.added":
                Start(null, output);
                Writer.Open("text", output, static json => json.WriteString("text"u8, string.Empty));
                break;
            case "response.output_text.delta" when open == "text":
                Writer.Delta(output, "text_delta", "text", OpenAIWire.GetString(data, "delta"));
                break;
            case "response.reasoning_summary_text.delta" when open == "thinking":
                Writer.Delta(output, "thinking_delta", "thinking", OpenAIWire.GetString(data, "delta"));
                break;
            case "response.function_call_arguments.delta" when open == "tool_use":
                Writer.Delta(output, "input_json_delta", "partial_json", OpenAIWire.GetString(data, "delta"));
                break;
            case "response.content_part.done" or "response.output_item.done":
                Writer.Close(output);
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

    private void Start(string? responseId, IBufferWriter<byte> output)
    {
        if (!Writer.Started)
        {
            Writer.Start(ResponsesUpstream.MessageId(responseId), output);
        }
    }

    private void Complete(JsonElement response, IBufferWriter<byte> output)
    {
        var isResponse = response.ValueKind == JsonValueKind.Object;
        Start(isResponse ? OpenAIWire.GetString(response, "id") : null, output);
        var usage = isResponse ? ResponsesUpstream.ReadUsage(response) : new StreamUsage();
        (Usage.InputTokens, Usage.OutputTokens, Usage.CacheReadInputTokens) = (usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens);
        Finish(isResponse ? ResponsesUpstream.StopReason(response, _calledTools) : "end_turn", output);
    }
}
