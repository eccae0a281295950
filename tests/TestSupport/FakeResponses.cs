using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>
/// What an OpenAI Responses upstream (<c>POST /v1/responses</c>) sends, written out by hand from OpenAI's documented
/// event sequence (not produced by the gateway's own converters, so it can catch them out): a streamed answer with
/// its <c>sequence_number</c>, <c>output_index</c> and <c>content_index</c>, or the whole <c>response</c> object.
/// </summary>
public static class FakeResponses
{
    /// <summary>One output item of an answer: text, or a function call.</summary>
    public sealed record Item(string Kind, string Text, string? CallId = null, string? Name = null)
    {
        public static Item Message(string text) => new("message", text);

        public static Item FunctionCall(string callId, string name, string arguments) => new("function_call", arguments, callId, name);
    }

    /// <summary>The whole <c>response</c> object, <c>completed</c>.</summary>
    public static JsonObject Response(string model, IReadOnlyList<Item> items, int inputTokens = 20, int outputTokens = 9, int cachedTokens = 0, string id = "resp_up1") =>
        ResponseObject(id, model, "completed", [.. items.Select((item, i) => ItemJson(item, i, done: true))], Usage(inputTokens, outputTokens, cachedTokens));

    /// <summary>The streamed answer: created, in progress, each item added/streamed/done, completed.</summary>
    public static IEnumerable<StreamStep> Stream(string model, IReadOnlyList<Item> items, int inputTokens = 20, int outputTokens = 9, string id = "resp_up1")
    {
        var sequence = 0;
        StreamStep Event(string type, JsonObject fields)
        {
            var data = new JsonObject { ["type"] = type, ["sequence_number"] = sequence++ };
            foreach (var (name, value) in fields)
            {
                data[name] = value?.DeepClone();
            }

            return StreamStep.Event(type, data);
        }

        yield return Event("response.created", new JsonObject { ["response"] = ResponseObject(id, model, "in_progress", [], null) });
        yield return Event("response.in_progress", new JsonObject { ["response"] = ResponseObject(id, model, "in_progress", [], null) });
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var itemId = ItemId(item, i);
            yield return Event("response.output_item.added", new JsonObject { ["output_index"] = i, ["item"] = ItemJson(item, i, done: false) });
            var pieces = Halves(item.Text);
            if (item.Kind == "message")
            {
                yield return Event("response.content_part.added", new JsonObject
                {
                    ["item_id"] = itemId, ["output_index"] = i, ["content_index"] = 0, ["part"] = TextPart(""),
                });
                foreach (var piece in pieces)
                {
                    yield return Event("response.output_text.delta", new JsonObject
                    {
                        ["item_id"] = itemId, ["output_index"] = i, ["content_index"] = 0, ["delta"] = piece, ["logprobs"] = new JsonArray(),
                    });
                }

                yield return Event("response.output_text.done", new JsonObject
                {
                    ["item_id"] = itemId, ["output_index"] = i, ["content_index"] = 0, ["text"] = item.Text, ["logprobs"] = new JsonArray(),
                });
                yield return Event("response.content_part.done", new JsonObject
                {
                    ["item_id"] = itemId, ["output_index"] = i, ["content_index"] = 0, ["part"] = TextPart(item.Text),
                });
            }
            else
            {
                foreach (var piece in pieces)
                {
                    yield return Event("response.function_call_arguments.delta", new JsonObject { ["item_id"] = itemId, ["output_index"] = i, ["delta"] = piece });
                }

                yield return Event("response.function_call_arguments.done", new JsonObject { ["item_id"] = itemId, ["output_index"] = i, ["arguments"] = item.Text });
            }

            yield return Event("response.output_item.done", new JsonObject { ["output_index"] = i, ["item"] = ItemJson(item, i, done: true) });
        }

        var output = new JsonArray([.. items.Select((item, i) => (JsonNode)ItemJson(item, i, done: true))]);
        yield return Event("response.completed", new JsonObject { ["response"] = ResponseObject(id, model, "completed", output, Usage(inputTokens, outputTokens, 0)) });
    }

    private static List<string> Halves(string text) => text.Length < 2 ? [text] : [text[..(text.Length / 2)], text[(text.Length / 2)..]];

    private static string ItemId(Item item, int index) => (item.Kind == "message" ? "msg_up" : "fc_up") + index;

    private static JsonObject TextPart(string text) => new() { ["type"] = "output_text", ["text"] = text, ["annotations"] = new JsonArray() };

    private static JsonObject ItemJson(Item item, int index, bool done) => item.Kind == "message"
        ? new JsonObject
        {
            ["id"] = ItemId(item, index), ["type"] = "message", ["status"] = done ? "completed" : "in_progress", ["role"] = "assistant",
            ["content"] = done ? new JsonArray(TextPart(item.Text)) : new JsonArray(),
        }
        : new JsonObject
        {
            ["id"] = ItemId(item, index), ["type"] = "function_call", ["status"] = done ? "completed" : "in_progress",
            ["call_id"] = item.CallId, ["name"] = item.Name, ["arguments"] = done ? item.Text : "",
        };

    private static JsonObject Usage(int input, int output, int cached) => new()
    {
        ["input_tokens"] = input,
        ["input_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
        ["output_tokens"] = output,
        ["output_tokens_details"] = new JsonObject { ["reasoning_tokens"] = 0 },
        ["total_tokens"] = input + output,
    };

    private static JsonObject ResponseObject(string id, string model, string status, JsonArray output, JsonObject? usage) => new()
    {
        ["id"] = id,
        ["object"] = "response",
        ["created_at"] = 1_700_000_000,
        ["status"] = status,
        ["error"] = null,
        ["incomplete_details"] = null,
        ["model"] = model,
        ["output"] = output,
        ["parallel_tool_calls"] = true,
        ["tool_choice"] = "auto",
        ["tools"] = new JsonArray(),
        ["usage"] = usage,
    };
}
