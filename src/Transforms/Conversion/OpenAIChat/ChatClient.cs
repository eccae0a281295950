using System.Text.Json;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// OpenAI Chat Completions clients against Anthropic Messages upstreams (docs/protocols.md §3): the request one
/// way, the answer (whole or streamed) the other.
/// </summary>
public static class ChatClient
{
    /// <summary>This protocol's client codec, for <see cref="ConversionTable"/>.</summary>
    public static IClientCodec Codec { get; } = new OpenAIClientCodec((body, options) => ConvertRequest(body, options), (message, context) => ConvertResponse(message, context.ClientModel, context.Time),
        context => CreateStreamConverter(context.ClientModel, context.IncludeUsage, context.Time));

    /// <summary>
    /// OpenAI Chat Completions request (client) → Anthropic Messages request (upstream).
    /// </summary>
    /// <remarks>
    /// Rules, with the choices docs/protocols.md leaves open:
    /// <list type="bullet">
    /// <item><c>system</c>/<c>developer</c> messages, wherever they are, become Anthropic <c>system</c> text blocks in
    /// order (cache_control on text parts is kept). <c>response_format: json_object</c> adds a system instruction;
    /// <c>json_schema</c> becomes <c>output_config.format</c>.</item>
    /// <item>Consecutive same-role turns are merged; consecutive <c>tool</c> (and legacy <c>function</c>) messages
    /// become one user turn of tool_result blocks, placed first in that turn (§8 #7, #11). Turns left empty are
    /// dropped, but an assistant turn with <c>content: ""</c> and tool_calls keeps its tool_use blocks (§8 #9, #10).
    /// Empty text is never sent.</item>
    /// <item>A conversation that starts with the assistant gets a user turn <c>"..."</c> first (as new-api does).
    /// A final assistant turn (prefill) loses its trailing whitespace (§8 #29).</item>
    /// <item>Tool arguments: empty → <c>{}</c>; invalid JSON or not an object → <c>{"raw_arguments": "…"}</c>, so
    /// the call and its tool_result stay paired and the model still sees what it sent. Tool-call ids outside
    /// <c>[a-zA-Z0-9_-]</c> are sanitised the same way on tool_use and tool_result (§8 #8).</item>
    /// <item><c>reasoning_content</c> on assistant messages is dropped: Anthropic takes back only thinking it
    /// signed, and OpenAI clients never hold a signature.</item>
    /// <item><c>max_completion_tokens</c> / <c>max_tokens</c> → <c>max_tokens</c> (4096 when absent), clamped to
    /// <see cref="ConversionOptions.MaxTokensLimit"/>. <c>reasoning_effort</c> minimal/low/medium/high → thinking budget
    /// 1024/1024/4096/16384; max_tokens is raised by the budget when it would not leave room, the budget lowered
    /// to fit a clamped max_tokens, and thinking dropped when under 1024, when tool_choice forces a tool, or in a
    /// tool loop (Anthropic then requires a signed thinking block first). <c>none</c> → <c>thinking: disabled</c>.
    /// With thinking on, temperature and top_p are not sent (Anthropic rejects changed sampling).</item>
    /// <item><c>temperature</c> is clamped to [0, 1]; <c>top_p</c> is sent only without <c>temperature</c> (§8 #25).</item>
    /// <item><c>n</c> &gt; 1 is refused. <c>logprobs</c>/<c>top_logprobs</c>, penalties, seed, logit_bias, audio,
    /// modalities, store and other unknown fields are ignored, as Anthropic's own OpenAI compatibility layer does;
    /// the answer carries <c>logprobs: null</c>. <c>input_audio</c> parts are dropped; <c>file_id</c> references refused.</item>
    /// </list>
    /// </remarks>
    /// <param name="chatRequest">The client's request body.</param>
    /// <param name="options">The channel's decisions (upstream model, max_tokens limit).</param>
    /// <param name="names">
    /// What the client called the fields, when its request reached Chat from another protocol (Responses, Gemini, legacy
    /// Completions): a refusal names those. Null for a Chat client.
    /// </param>
    /// <returns>The Anthropic request, or the reason it cannot be made (answer 400).</returns>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> chatRequest, ConversionOptions options, ChatFieldNames? names = null) =>
        ChatRequestConverter.Convert(chatRequest, options, names);

    /// <summary>
    /// True when an OpenAI request (chat or legacy completions) asks for the usage chunk
    /// (<c>stream_options.include_usage: true</c>): pass it to <see cref="CreateStreamConverter(string, bool, TimeProvider)"/>.
    /// </summary>
    /// <param name="openAIRequest">The client's request body.</param>
    /// <returns>Whether to write the usage chunk; false for malformed bodies.</returns>
    public static bool WantsStreamUsage(ReadOnlySpan<byte> openAIRequest)
    {
        try
        {
            var reader = new Utf8JsonReader(openAIRequest);
            using var doc = JsonDocument.ParseValue(ref reader);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("stream_options", out var options)
                && options.ValueKind == JsonValueKind.Object
                && options.TryGetProperty("include_usage", out var include)
                && include.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Anthropic message (upstream, non-streamed) → OpenAI <c>chat.completion</c> (client).</summary>
    /// <param name="anthropicMessage">The upstream's 200 body.</param>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="time">The host's clock, for <c>created</c>.</param>
    /// <returns>The <c>chat.completion</c> body.</returns>
    /// <exception cref="JsonException">The body is not an Anthropic message.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, TimeProvider time) =>
        ConvertResponse(anthropicMessage, clientModel, OpenAIWire.UnixNow(time));

    /// <summary>Anthropic SSE → OpenAI <c>chat.completion.chunk</c> SSE (data-only, ending with <c>data: [DONE]</c>).</summary>
    /// <param name="clientModel">The model name the client asked for.</param>
    /// <param name="includeUsage">The client's <c>stream_options.include_usage</c>: write the usage chunk.</param>
    /// <param name="time">The host\'s clock, for <c>created</c>.</param>
    /// <returns>A converter for one response.</returns>
    public static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, TimeProvider time) =>
        CreateStreamConverter(clientModel, includeUsage, OpenAIWire.UnixNow(time), null);

    /// <summary>The same, with <c>created</c> and the id used when the upstream gives none fixed (tests).</summary>
    internal static IStreamConverter CreateStreamConverter(string clientModel, bool includeUsage, long created, string? fallbackIdSuffix) =>
        new MessagesStreamToChat(OpenAIWire.Shape.Chat, clientModel, includeUsage, created, fallbackIdSuffix);

    /// <summary>The same, with <c>created</c> fixed (tests).</summary>
    internal static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, long created)
    {
        var answer = AnthropicAnswer.Parse(anthropicMessage);
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("id"u8, OpenAIWire.MakeId(OpenAIWire.Shape.Chat, answer.Id));
            json.WriteString("object"u8, "chat.completion"u8);
            json.WriteNumber("created"u8, created);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteNumber("index"u8, 0);
            json.WriteStartObject("message"u8);
            json.WriteString("role"u8, "assistant"u8);

            // Content is every text block joined; null (not "") when there is none, e.g. only tool calls.
            if (answer.Text is null)
            {
                json.WriteNull("content"u8);
            }
            else
            {
                json.WriteString("content"u8, answer.Text);
            }

            if (answer.Reasoning is not null)
            {
                json.WriteString("reasoning_content"u8, answer.Reasoning);
            }

            if (answer.ToolCalls.Count > 0)
            {
                json.WriteStartArray("tool_calls"u8);
                foreach (var (id, name, arguments) in answer.ToolCalls)
                {
                    OpenAIWire.WriteToolCall(json, id, name, arguments);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteNull("logprobs"u8);
            json.WriteString("finish_reason"u8, OpenAIWire.FinishReason(answer.StopReason, OpenAIWire.Shape.Chat));
            json.WriteEndObject();
            json.WriteEndArray();
            OpenAIWire.WriteUsage(json, answer.Usage);
            json.WriteEndObject();
        });
    }
}
