using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>The parts of the Responses wire format that the whole answer and the stream share.</summary>
internal static class ResponsesWire
{
    /// <summary>How re-serialised Responses objects are written: non-ASCII text as it is.</summary>
    public static readonly JsonSerializerOptions JsonOptions = OpenAIWire.JsonOptions;

    /// <summary>Whether an Anthropic stop reason ends the response <c>completed</c>, or <c>incomplete</c> and why.</summary>
    public static (string Status, string? IncompleteReason) Status(string? anthropicStopReason) => anthropicStopReason switch
    {
        "max_tokens" or "model_context_window_exceeded" => ("incomplete", "max_output_tokens"),
        "refusal" => ("incomplete", "content_filter"),
        _ => ("completed", null),
    };

    /// <summary>
    /// A fresh response id. Never the upstream's message id: the gateway keeps responses by id, and a replay from the
    /// response cache or an upstream that reuses ids must not give two answers one id.
    /// </summary>
    public static string NewResponseId() => "resp_" + OpenAIWire.RandomSuffix();

    /// <summary>The id of the output item at <paramref name="index"/>: its kind's prefix and the response's own suffix.</summary>
    public static string ItemId(string prefix, string responseId, int index) =>
        string.Concat(prefix, responseId.AsSpan(5), "_", index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>
    /// <c>"usage": {input_tokens, input_tokens_details:{cached_tokens}, output_tokens, output_tokens_details:{reasoning_tokens}, total_tokens}</c>.
    /// OpenAI's input count includes cached tokens; Anthropic's excludes reads and writes, so they are added back.
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter json, StreamUsage usage)
    {
        var input = usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens;
        json.WriteStartObject("usage"u8);
        json.WriteNumber("input_tokens"u8, input);
        json.WriteStartObject("input_tokens_details"u8);
        json.WriteNumber("cached_tokens"u8, usage.CacheReadInputTokens);
        json.WriteEndObject();
        json.WriteNumber("output_tokens"u8, usage.OutputTokens);
        json.WriteStartObject("output_tokens_details"u8);
        json.WriteNumber("reasoning_tokens"u8, 0);
        json.WriteEndObject();
        json.WriteNumber("total_tokens"u8, input + usage.OutputTokens);
        json.WriteEndObject();
    }

    /// <summary>
    /// The <c>response</c> object: its id, status, model and output items, with the request fields a client reads
    /// back set to what the gateway did (<paramref name="stored"/>: whether it keeps the response). <paramref name="writeOutput"/>
    /// writes the items inside <c>"output": [...]</c>.
    /// </summary>
    public static void WriteResponse(Utf8JsonWriter json, string id, long createdAt, string model, string status, string? incompleteReason, bool stored,
        Action<Utf8JsonWriter> writeOutput, StreamUsage? usage, (string Code, string Message)? error = null)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("object"u8, "response"u8);
        json.WriteNumber("created_at"u8, createdAt);
        json.WriteString("status"u8, status);
        if (error is { } e)
        {
            json.WriteStartObject("error"u8);
            json.WriteString("code"u8, e.Code);
            json.WriteString("message"u8, e.Message);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("error"u8);
        }

        if (incompleteReason is null)
        {
            json.WriteNull("incomplete_details"u8);
        }
        else
        {
            json.WriteStartObject("incomplete_details"u8);
            json.WriteString("reason"u8, incompleteReason);
            json.WriteEndObject();
        }

        json.WriteString("model"u8, model);
        json.WriteStartArray("output"u8);
        writeOutput(json);
        json.WriteEndArray();
        json.WriteBoolean("parallel_tool_calls"u8, true);
        json.WriteNull("previous_response_id"u8);
        json.WriteBoolean("store"u8, stored);
        json.WriteString("tool_choice"u8, "auto"u8);
        json.WriteStartArray("tools"u8);
        json.WriteEndArray();
        json.WriteStartObject("text"u8);
        json.WriteStartObject("format"u8);
        json.WriteString("type"u8, "text"u8);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteString("truncation"u8, "disabled"u8);
        if (usage is null)
        {
            json.WriteNull("usage"u8);
        }
        else
        {
            WriteUsage(json, usage);
        }

        json.WriteStartObject("metadata"u8);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A finished assistant message item with one <c>output_text</c> part.</summary>
    public static void WriteMessageItem(Utf8JsonWriter json, string id, string status, string text)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("type"u8, "message"u8);
        json.WriteString("status"u8, status);
        json.WriteString("role"u8, "assistant"u8);
        json.WriteStartArray("content"u8);
        WriteTextPart(json, text);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary><c>{"type":"output_text","text":…,"annotations":[]}</c>.</summary>
    public static void WriteTextPart(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "output_text"u8);
        json.WriteString("text"u8, text);
        json.WriteStartArray("annotations"u8);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>A function call item; <paramref name="callId"/> is the upstream's tool-use id, kept so the output that answers it pairs up.</summary>
    public static void WriteFunctionCallItem(Utf8JsonWriter json, string id, string status, string callId, string name, string arguments)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("type"u8, "function_call"u8);
        json.WriteString("status"u8, status);
        json.WriteString("call_id"u8, callId);
        json.WriteString("name"u8, name);
        json.WriteString("arguments"u8, arguments);
        json.WriteEndObject();
    }

    /// <summary>A reasoning item carrying thinking as its summary text (no <c>encrypted_content</c>: the proof is another family's).</summary>
    public static void WriteReasoningItem(Utf8JsonWriter json, string id, string? summary)
    {
        json.WriteStartObject();
        json.WriteString("id"u8, id);
        json.WriteString("type"u8, "reasoning"u8);
        json.WriteStartArray("summary"u8);
        if (summary is not null)
        {
            WriteSummaryPart(json, summary);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary><c>{"type":"summary_text","text":…}</c>.</summary>
    public static void WriteSummaryPart(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "summary_text"u8);
        json.WriteString("text"u8, text);
        json.WriteEndObject();
    }
}
