using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.TestSupport;

/// <summary>
/// Writes answers in the shapes of Anthropic's Messages API (see docs/protocols.md §0 and §5):
/// JSON messages, SSE streams whose frames carry both <c>event:</c> and <c>data:</c>, and
/// error bodies with a <c>request-id</c> header.
/// </summary>
public static class FakeAnthropic
{
    /// <summary>Content type of every JSON answer.</summary>
    public const string JsonContentType = "application/json";

    /// <summary>Content type of every streamed answer.</summary>
    public const string StreamContentType = SseWriter.ContentType;

    /// <summary>Writes a complete (non-streamed) message.</summary>
    /// <param name="ctx">The request to answer.</param>
    /// <param name="model">The <c>model</c> field of the answer.</param>
    /// <param name="contentBlocks">The content blocks, e.g. <see cref="TextBlock"/>, <see cref="ToolUseBlock"/>; they are copied.</param>
    /// <param name="stopReason">The <c>stop_reason</c>.</param>
    /// <param name="inputTokens"><c>usage.input_tokens</c>.</param>
    /// <param name="outputTokens"><c>usage.output_tokens</c>.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static Task WriteMessageAsync(HttpContext ctx, string model, IEnumerable<JsonObject> contentBlocks, string stopReason = "end_turn", int inputTokens = 10, int outputTokens = 5)
        => WriteJsonAsync(ctx, StatusCodes.Status200OK, Message(model, contentBlocks, stopReason, inputTokens, outputTokens));

    /// <summary>A complete (non-streamed) message.</summary>
    /// <param name="model">The <c>model</c> field of the answer.</param>
    /// <param name="contentBlocks">The content blocks, e.g. <see cref="TextBlock"/>, <see cref="ToolUseBlock"/>; they are copied.</param>
    /// <param name="stopReason">The <c>stop_reason</c>.</param>
    /// <param name="inputTokens"><c>usage.input_tokens</c>.</param>
    /// <param name="outputTokens"><c>usage.output_tokens</c>.</param>
    /// <returns>The message.</returns>
    public static JsonObject Message(string model, IEnumerable<JsonObject> contentBlocks, string stopReason = "end_turn", int inputTokens = 10, int outputTokens = 5)
    {
        ArgumentNullException.ThrowIfNull(contentBlocks);
        var content = new JsonArray();
        foreach (var block in contentBlocks)
        {
            content.Add(block.DeepClone());
        }

        return new JsonObject
        {
            ["id"] = NewId("msg_fake_"),
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = model,
            ["content"] = content,
            ["stop_reason"] = stopReason,
            ["stop_sequence"] = null,
            ["usage"] = Usage(inputTokens, outputTokens),
        };
    }

    /// <summary>A <c>{"type":"text","text":…}</c> content block.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The block.</returns>
    public static JsonObject TextBlock(string text) => new() { ["type"] = "text", ["text"] = text };

    /// <summary>A <c>{"type":"tool_use","id","name","input"}</c> content block.</summary>
    /// <param name="id">The tool call id, e.g. <c>toolu_01</c>.</param>
    /// <param name="name">The tool name.</param>
    /// <param name="input">The tool input; it is copied.</param>
    /// <returns>The block.</returns>
    public static JsonObject ToolUseBlock(string id, string name, JsonObject input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new() { ["type"] = "tool_use", ["id"] = id, ["name"] = name, ["input"] = input.DeepClone() };
    }

    /// <summary>Plays <paramref name="steps"/> as an SSE answer, flushing after every event.</summary>
    /// <param name="ctx">The request to answer.</param>
    /// <param name="steps">Events, delays, gates and aborts, in order.</param>
    /// <param name="ct">Stops the stream; the request's own abort token is always observed too.</param>
    /// <returns>A task that completes when every step has run.</returns>
    public static Task WriteStreamAsync(HttpContext ctx, IEnumerable<StreamStep> steps, CancellationToken ct = default)
        => SseWriter.WriteAsync(ctx, steps, ct);

    /// <summary>An Anthropic error body <c>{"type":"error","error":{"type","message"},"request_id"}</c> with a <c>request-id</c> header.</summary>
    /// <param name="ctx">The request to answer.</param>
    /// <param name="status">The HTTP status, e.g. 429 or 529.</param>
    /// <param name="type">The <c>error.type</c>, e.g. <c>rate_limit_error</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static Task WriteErrorAsync(HttpContext ctx, int status, string type, string message)
        => WriteJsonAsync(ctx, status, ErrorBody(type, message));

    /// <summary>An Anthropic error body <c>{"type":"error","error":{"type","message"},"request_id"}</c>.</summary>
    /// <param name="type">The <c>error.type</c>, e.g. <c>rate_limit_error</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <returns>The body.</returns>
    public static JsonObject ErrorBody(string type, string message) => new()
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
        ["request_id"] = NewId("req_fake_"),
    };

    /// <summary>A complete text answer: message_start, ping, one text block in <paramref name="chunks"/> deltas, message_delta, message_stop.</summary>
    /// <param name="model">The model named in message_start.</param>
    /// <param name="text">The whole text; it is split into <paramref name="chunks"/> pieces of near equal length.</param>
    /// <param name="chunks">The number of text deltas, clamped to 1…text length.</param>
    /// <param name="delayBetweenEvents">An optional pause between events.</param>
    /// <returns>The steps.</returns>
    public static IEnumerable<StreamStep> TextStream(string model, string text, int chunks, TimeSpan delayBetweenEvents = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var steps = new List<StreamStep> { MessageStart(model), Ping(), TextBlockStart(0) };
        foreach (var piece in Split(text, chunks))
        {
            steps.Add(TextDelta(0, piece));
        }

        steps.Add(BlockStop(0));
        steps.Add(MessageDelta("end_turn", Math.Max(1, chunks)));
        steps.Add(MessageStop());
        return WithPauses(steps, delayBetweenEvents);
    }

    /// <summary>A complete tool-use answer: one tool_use block whose input arrives as two input_json_delta events, stop_reason tool_use.</summary>
    /// <param name="model">The model named in message_start.</param>
    /// <param name="id">The tool call id.</param>
    /// <param name="name">The tool name.</param>
    /// <param name="input">The tool input.</param>
    /// <returns>The steps.</returns>
    public static IEnumerable<StreamStep> ToolUseStream(string model, string id, string name, JsonObject input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var json = input.ToJsonString();
        var half = json.Length / 2;
        return
        [
            MessageStart(model),
            ToolUseBlockStart(0, id, name),
            InputJsonDelta(0, json[..half]),
            InputJsonDelta(0, json[half..]),
            BlockStop(0),
            MessageDelta("tool_use", 12),
            MessageStop(),
        ];
    }

    /// <summary><c>message_start</c> with an empty assistant message.</summary>
    /// <param name="model">The model.</param>
    /// <param name="inputTokens"><c>message.usage.input_tokens</c>.</param>
    /// <returns>The step.</returns>
    public static StreamStep MessageStart(string model, int inputTokens = 10) => StreamStep.Event("message_start", new JsonObject
    {
        ["type"] = "message_start",
        ["message"] = new JsonObject
        {
            ["id"] = NewId("msg_fake_"),
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = model,
            ["content"] = new JsonArray(),
            ["stop_reason"] = null,
            ["stop_sequence"] = null,
            ["usage"] = Usage(inputTokens, 1),
        },
    });

    /// <summary><c>ping</c>.</summary>
    /// <returns>The step.</returns>
    public static StreamStep Ping() => StreamStep.Event("ping", new JsonObject { ["type"] = "ping" });

    /// <summary><c>content_block_start</c> of a text block.</summary>
    /// <param name="index">The block index.</param>
    /// <returns>The step.</returns>
    public static StreamStep TextBlockStart(int index)
        => BlockStart(index, new JsonObject { ["type"] = "text", ["text"] = "" });

    /// <summary><c>content_block_delta</c> with a <c>text_delta</c>.</summary>
    /// <param name="index">The block index.</param>
    /// <param name="text">The text piece.</param>
    /// <returns>The step.</returns>
    public static StreamStep TextDelta(int index, string text)
        => BlockDelta(index, new JsonObject { ["type"] = "text_delta", ["text"] = text });

    /// <summary><c>content_block_start</c> of a tool_use block with an empty input.</summary>
    /// <param name="index">The block index.</param>
    /// <param name="id">The tool call id.</param>
    /// <param name="name">The tool name.</param>
    /// <returns>The step.</returns>
    public static StreamStep ToolUseBlockStart(int index, string id, string name)
        => BlockStart(index, new JsonObject { ["type"] = "tool_use", ["id"] = id, ["name"] = name, ["input"] = new JsonObject() });

    /// <summary><c>content_block_delta</c> with an <c>input_json_delta</c>.</summary>
    /// <param name="index">The block index.</param>
    /// <param name="partialJson">A piece of the tool input's JSON text.</param>
    /// <returns>The step.</returns>
    public static StreamStep InputJsonDelta(int index, string partialJson)
        => BlockDelta(index, new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = partialJson });

    /// <summary><c>content_block_start</c> of a thinking block.</summary>
    /// <param name="index">The block index.</param>
    /// <returns>The step.</returns>
    public static StreamStep ThinkingBlockStart(int index)
        => BlockStart(index, new JsonObject { ["type"] = "thinking", ["thinking"] = "", ["signature"] = "" });

    /// <summary><c>content_block_delta</c> with a <c>thinking_delta</c>.</summary>
    /// <param name="index">The block index.</param>
    /// <param name="text">The thinking text piece.</param>
    /// <returns>The step.</returns>
    public static StreamStep ThinkingDelta(int index, string text)
        => BlockDelta(index, new JsonObject { ["type"] = "thinking_delta", ["thinking"] = text });

    /// <summary><c>content_block_delta</c> with a <c>signature_delta</c>.</summary>
    /// <param name="index">The block index.</param>
    /// <param name="signature">The signature.</param>
    /// <returns>The step.</returns>
    public static StreamStep SignatureDelta(int index, string signature)
        => BlockDelta(index, new JsonObject { ["type"] = "signature_delta", ["signature"] = signature });

    /// <summary><c>content_block_stop</c>.</summary>
    /// <param name="index">The block index.</param>
    /// <returns>The step.</returns>
    public static StreamStep BlockStop(int index)
        => StreamStep.Event("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index });

    /// <summary><c>message_delta</c> with the stop reason and the cumulative output tokens.</summary>
    /// <param name="stopReason">The stop reason.</param>
    /// <param name="outputTokens"><c>usage.output_tokens</c> (cumulative).</param>
    /// <returns>The step.</returns>
    public static StreamStep MessageDelta(string stopReason, int outputTokens) => StreamStep.Event("message_delta", new JsonObject
    {
        ["type"] = "message_delta",
        ["delta"] = new JsonObject { ["stop_reason"] = stopReason, ["stop_sequence"] = null },
        ["usage"] = new JsonObject { ["output_tokens"] = outputTokens },
    });

    /// <summary><c>message_stop</c>.</summary>
    /// <returns>The step.</returns>
    public static StreamStep MessageStop() => StreamStep.Event("message_stop", new JsonObject { ["type"] = "message_stop" });

    /// <summary>A mid-stream <c>error</c> event, e.g. <c>Error("overloaded_error", "Overloaded")</c>.</summary>
    /// <param name="type">The <c>error.type</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <returns>The step.</returns>
    public static StreamStep Error(string type, string message) => StreamStep.Event("error", new JsonObject
    {
        ["type"] = "error",
        ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
    });

    internal static async Task WriteJsonAsync(HttpContext ctx, int status, JsonNode body)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = JsonContentType;
        // An Anthropic error names its request in the body and in the header: the same id in both. A script may
        // have set its own.
        if (!ctx.Response.Headers.ContainsKey("request-id"))
        {
            ctx.Response.Headers["request-id"] = ((body as JsonObject)?["request_id"] as JsonValue)?.GetValue<string>() ?? NewId("req_fake_");
        }
        await ctx.Response.WriteAsync(body.ToJsonString(), ctx.RequestAborted);
    }

    internal static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];

    internal static IEnumerable<string> Split(string text, int chunks)
    {
        if (text.Length == 0)
        {
            yield return text;
            yield break;
        }

        var count = Math.Clamp(chunks, 1, text.Length);
        var start = 0;
        for (var i = 0; i < count; i++)
        {
            var end = (int)((long)text.Length * (i + 1) / count);
            // Never split a surrogate pair: a delta must be valid UTF-16 on its own.
            if (end < text.Length && char.IsLowSurrogate(text[end]) && end > start + 1)
            {
                end--;
            }

            if (end > start)
            {
                yield return text[start..end];
            }

            start = end;
        }
    }

    internal static IEnumerable<StreamStep> WithPauses(IReadOnlyList<StreamStep> steps, TimeSpan pause)
    {
        if (pause <= TimeSpan.Zero)
        {
            return steps;
        }

        var result = new List<StreamStep>(steps.Count * 2);
        for (var i = 0; i < steps.Count; i++)
        {
            if (i > 0)
            {
                result.Add(StreamStep.Delay(pause));
            }

            result.Add(steps[i]);
        }

        return result;
    }

    private static JsonObject Usage(int inputTokens, int outputTokens) => new()
    {
        ["input_tokens"] = inputTokens,
        ["cache_creation_input_tokens"] = 0,
        ["cache_read_input_tokens"] = 0,
        ["output_tokens"] = outputTokens,
    };

    private static StreamStep BlockStart(int index, JsonObject block) => StreamStep.Event("content_block_start", new JsonObject
    {
        ["type"] = "content_block_start",
        ["index"] = index,
        ["content_block"] = block,
    });

    private static StreamStep BlockDelta(int index, JsonObject delta) => StreamStep.Event("content_block_delta", new JsonObject
    {
        ["type"] = "content_block_delta",
        ["index"] = index,
        ["delta"] = delta,
    });
}
