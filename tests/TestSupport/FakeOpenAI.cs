using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.TestSupport;

/// <summary>
/// Writes answers in the shapes of OpenAI's Chat Completions API (see docs/protocols.md §0 and §5):
/// JSON completions, data-only SSE chunks ended by <c>data: [DONE]</c>, and error bodies
/// <c>{"error":{"message","type","param","code"}}</c>.
/// </summary>
public static class FakeOpenAI
{
    /// <summary>The model named by chunk builders when none is given.</summary>
    public const string DefaultModel = "fake-model";

    /// <summary>The <c>created</c> timestamp of every answer: fixed, so answers are deterministic.</summary>
    public const long Created = 1_700_000_000;

    /// <summary>A complete text completion.</summary>
    /// <param name="model">The <c>model</c> field.</param>
    /// <param name="text">The assistant message's content.</param>
    /// <returns>The completion.</returns>
    public static JsonObject ChatCompletion(string model, string text)
        => ChatCompletion(model, new JsonObject { ["role"] = "assistant", ["content"] = text, ["refusal"] = null }, "stop");

    /// <summary>A complete completion whose assistant message is given as is.</summary>
    /// <param name="model">The <c>model</c> field.</param>
    /// <param name="message">The <c>choices[0].message</c> object; it is copied.</param>
    /// <param name="finishReason">The <c>finish_reason</c>.</param>
    /// <param name="promptTokens"><c>usage.prompt_tokens</c>.</param>
    /// <param name="completionTokens"><c>usage.completion_tokens</c>.</param>
    /// <param name="cachedTokens"><c>usage.prompt_tokens_details.cached_tokens</c>.</param>
    /// <returns>The completion.</returns>
    public static JsonObject ChatCompletion(string model, JsonObject message, string finishReason, int promptTokens = 10, int completionTokens = 5, int cachedTokens = 0)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new JsonObject
        {
            ["id"] = FakeAnthropic.NewId("chatcmpl-fake"),
            ["object"] = "chat.completion",
            ["created"] = Created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = message.DeepClone(),
                ["logprobs"] = null,
                ["finish_reason"] = finishReason,
            }),
            ["usage"] = Usage(promptTokens, completionTokens, cachedTokens),
        };
    }

    /// <summary>A <c>tool_calls</c> entry: <c>{"id","type":"function","function":{"name","arguments"}}</c>.</summary>
    /// <param name="id">The call id, e.g. <c>call_1</c>.</param>
    /// <param name="name">The function name.</param>
    /// <param name="arguments">The arguments as JSON text.</param>
    /// <returns>The entry.</returns>
    public static JsonObject ToolCall(string id, string name, string arguments) => new()
    {
        ["id"] = id,
        ["type"] = "function",
        ["function"] = new JsonObject { ["name"] = name, ["arguments"] = arguments },
    };

    /// <summary>Plays <paramref name="steps"/> as an SSE answer, flushing after every chunk.</summary>
    /// <param name="ctx">The request to answer.</param>
    /// <param name="steps">Chunks, delays, gates and aborts, in order; end with <see cref="Done"/>.</param>
    /// <param name="ct">Stops the stream; the request's own abort token is always observed too.</param>
    /// <returns>A task that completes when every step has run.</returns>
    public static Task WriteChatStreamAsync(HttpContext ctx, IEnumerable<StreamStep> steps, CancellationToken ct = default)
        => SseWriter.WriteAsync(ctx, steps, ct);

    /// <summary>An OpenAI error body <c>{"error":{"message","type","param","code"}}</c>.</summary>
    /// <param name="ctx">The request to answer.</param>
    /// <param name="status">The HTTP status.</param>
    /// <param name="type">The <c>error.type</c>, e.g. <c>insufficient_quota</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <param name="code">The <c>error.code</c>, e.g. <c>rate_limit_exceeded</c>, or null.</param>
    /// <returns>A task that completes when the answer is written.</returns>
    public static Task WriteErrorAsync(HttpContext ctx, int status, string type, string message, string? code = null)
        => FakeAnthropic.WriteJsonAsync(ctx, status, ErrorBody(type, message, code));

    /// <summary>A complete text stream: a role chunk, <paramref name="chunks"/> content chunks, a finish chunk, an optional usage chunk, <c>[DONE]</c>.</summary>
    /// <param name="model">The model named in every chunk.</param>
    /// <param name="text">The whole text.</param>
    /// <param name="chunks">The number of content chunks, clamped to 1…text length.</param>
    /// <param name="includeUsage">Whether to send the usage chunk (<c>stream_options.include_usage</c>).</param>
    /// <param name="delayBetweenEvents">An optional pause between chunks.</param>
    /// <returns>The steps.</returns>
    public static IEnumerable<StreamStep> TextStream(string model, string text, int chunks, bool includeUsage, TimeSpan delayBetweenEvents = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        var steps = new List<StreamStep> { RoleChunk(model) };
        foreach (var piece in FakeAnthropic.Split(text, chunks))
        {
            steps.Add(TextChunk(piece, model));
        }

        steps.Add(FinishChunk("stop", model));
        if (includeUsage)
        {
            steps.Add(UsageChunk(10, Math.Max(1, chunks), 0, model));
        }

        steps.Add(Done());
        return FakeAnthropic.WithPauses(steps, delayBetweenEvents);
    }

    /// <summary>The first chunk: <c>delta: {"role":"assistant","content":""}</c>.</summary>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep RoleChunk(string model = DefaultModel)
        => Chunk(model, new JsonObject { ["role"] = "assistant", ["content"] = "" }, null);

    /// <summary>A content chunk: <c>delta: {"content":text}</c>.</summary>
    /// <param name="text">The text piece.</param>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep TextChunk(string text, string model = DefaultModel)
        => Chunk(model, new JsonObject { ["content"] = text }, null);

    /// <summary>A reasoning chunk: <c>delta: {"reasoning_content":text}</c> (DeepSeek and others).</summary>
    /// <param name="text">The reasoning piece.</param>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep ReasoningChunk(string text, string model = DefaultModel)
        => Chunk(model, new JsonObject { ["reasoning_content"] = text }, null);

    /// <summary>
    /// A tool-call chunk. The first chunk of a call carries <paramref name="id"/> and <paramref name="name"/>;
    /// later ones pass null for both and carry only argument pieces.
    /// </summary>
    /// <param name="index">The <c>tool_calls[].index</c>.</param>
    /// <param name="id">The call id, or null to omit it.</param>
    /// <param name="name">The function name, or null to omit it.</param>
    /// <param name="args">A piece of the arguments' JSON text.</param>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep ToolCallChunk(int index, string? id, string? name, string args, string model = DefaultModel)
    {
        var call = new JsonObject { ["index"] = index };
        if (id is not null)
        {
            call["id"] = id;
            call["type"] = "function";
        }

        var function = new JsonObject();
        if (name is not null)
        {
            function["name"] = name;
        }

        function["arguments"] = args;
        call["function"] = function;
        return Chunk(model, new JsonObject { ["tool_calls"] = new JsonArray(call) }, null);
    }

    /// <summary>The finish chunk: an empty delta and <c>finish_reason</c>.</summary>
    /// <param name="reason">The finish reason, e.g. <c>stop</c>, <c>length</c>, <c>tool_calls</c>.</param>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep FinishChunk(string reason, string model = DefaultModel)
        => Chunk(model, new JsonObject(), reason);

    /// <summary>The usage chunk: <c>choices: []</c> and <c>usage</c>, sent after the finish chunk when <c>include_usage</c> is set.</summary>
    /// <param name="prompt"><c>prompt_tokens</c>.</param>
    /// <param name="completion"><c>completion_tokens</c>.</param>
    /// <param name="cached"><c>prompt_tokens_details.cached_tokens</c>.</param>
    /// <param name="model">The model.</param>
    /// <returns>The step.</returns>
    public static StreamStep UsageChunk(int prompt, int completion, int cached = 0, string model = DefaultModel)
        => StreamStep.DataOnly(new JsonObject
        {
            ["id"] = "chatcmpl-fake",
            ["object"] = "chat.completion.chunk",
            ["created"] = Created,
            ["model"] = model,
            ["choices"] = new JsonArray(),
            ["usage"] = Usage(prompt, completion, cached),
        }.ToJsonString());

    /// <summary>A mid-stream error frame: <c>data: {"error":{…}}</c>.</summary>
    /// <param name="type">The <c>error.type</c>, e.g. <c>server_error</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <param name="code">The <c>error.code</c>, or null.</param>
    /// <returns>The step.</returns>
    public static StreamStep ErrorChunk(string type, string message, string? code = null)
        => StreamStep.DataOnly(ErrorBody(type, message, code).ToJsonString());

    /// <summary>The terminal <c>data: [DONE]</c>.</summary>
    /// <returns>The step.</returns>
    public static StreamStep Done() => StreamStep.DataOnly("[DONE]");

    private static StreamStep Chunk(string model, JsonObject delta, string? finishReason) => StreamStep.DataOnly(new JsonObject
    {
        ["id"] = "chatcmpl-fake",
        ["object"] = "chat.completion.chunk",
        ["created"] = Created,
        ["model"] = model,
        ["choices"] = new JsonArray(new JsonObject
        {
            ["index"] = 0,
            ["delta"] = delta,
            ["logprobs"] = null,
            ["finish_reason"] = finishReason,
        }),
    }.ToJsonString());

    private static JsonObject Usage(int prompt, int completion, int cached) => new()
    {
        ["prompt_tokens"] = prompt,
        ["completion_tokens"] = completion,
        ["total_tokens"] = prompt + completion,
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = cached },
    };

    /// <summary>An OpenAI error body <c>{"error":{"message","type","param","code"}}</c>.</summary>
    /// <param name="type">The <c>error.type</c>, e.g. <c>insufficient_quota</c>.</param>
    /// <param name="message">The <c>error.message</c>.</param>
    /// <param name="code">The <c>error.code</c>, or null.</param>
    /// <returns>The body.</returns>
    public static JsonObject ErrorBody(string type, string message, string? code = null) => new()
    {
        ["error"] = new JsonObject
        {
            ["message"] = message,
            ["type"] = type,
            ["param"] = null,
            ["code"] = code,
        },
    };
}
