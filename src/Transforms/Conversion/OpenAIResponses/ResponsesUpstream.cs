using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// A Messages request (Claude Code's, or one the hub made from another client's) to an OpenAI Responses upstream
/// (a <c>responses</c> channel), and its answer back (docs/conversion.md). <c>system</c> becomes
/// <c>instructions</c>; each turn's text, images and documents become message items; <c>tool_use</c> and
/// <c>tool_result</c> become <c>function_call</c> and <c>function_call_output</c> items with the tool id as
/// <c>call_id</c>; thinking is dropped (its signature is Anthropic's). Server tools and <c>stop_sequences</c> have no
/// counterpart and are dropped. Nothing is stored upstream (<c>store: false</c>).
/// </summary>
public static class ResponsesUpstream
{
    /// <summary>The codec <see cref="ConversionTable"/> reaches a <c>responses</c> channel with.</summary>
    public static IUpstreamCodec Codec { get; } = new ResponsesUpstreamCodec();

    /// <summary>Messages request → Responses request, or the 400 that says why not.</summary>
    /// <param name="messagesRequest">The Messages body.</param>
    /// <param name="options">The channel's choices.</param>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> messagesRequest, ConversionOptions options) =>
        ConvertedRequest.Convert(messagesRequest, (messagesRequest.Length, options), static (root, state) => ConvertRequest(root, state.Length, state.options));

    private static GatewayResult<ConvertedRequest> ConvertRequest(JsonElement root, int bodyLength, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            return ConvertedRequest.Refused("messages: field required (an array of messages)");
        }

        var buffer = new ArrayBufferWriter<byte>(bodyLength + 256);
        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;

        // OpenAI takes function names of at most 64 characters; longer ones (MCP tools') are shortened and mapped back.
        var toolNames = new ToolNameMap();
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, options.UpstreamModel);
            if (MessagesRequestText.System(root) is { Length: > 0 } instructions)
            {
                json.WriteString("instructions"u8, instructions);
            }

            json.WriteStartArray("input"u8);
            foreach (var message in messages.EnumerateArray())
            {
                WriteTurn(json, message, toolNames);
            }

            json.WriteEndArray();
            WriteTools(json, root, toolNames);
            if (root.TryGetProperty("max_tokens", out var maxTokens) && maxTokens.TryGetInt64(out var max))
            {
                json.WriteNumber("max_output_tokens"u8, options.MaxTokensLimit is { } limit && max > limit ? limit : max);
            }

            foreach (var (from, to) in (ReadOnlySpan<(string, string)>)[("temperature", "temperature"), ("top_p", "top_p")])
            {
                if (root.TryGetProperty(from, out var number) && number.ValueKind == JsonValueKind.Number)
                {
                    json.WritePropertyName(to);
                    number.WriteTo(json);
                }
            }

            if (root.TryGetProperty("thinking", out var thinking) && OpenAIWire.GetString(thinking, "type") == "enabled"
                && OpenAIWire.TryGetLong(thinking, "budget_tokens", out var budget))
            {
                json.WriteStartObject("reasoning"u8);
                json.WriteString("effort"u8, budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high");
                json.WriteEndObject();
            }

            if (root.TryGetProperty("output_config", out var output) && output.TryGetProperty("format", out var format)
                && OpenAIWire.GetString(format, "type") == "json_schema" && format.TryGetProperty("schema", out var schema))
            {
                json.WriteStartObject("text"u8);
                json.WriteStartObject("format"u8);
                json.WriteString("type"u8, "json_schema"u8);
                json.WriteString("name"u8, "output"u8);
                json.WritePropertyName("schema"u8);
                schema.WriteTo(json);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            if (root.TryGetProperty("metadata", out var metadata) && OpenAIWire.GetString(metadata, "user_id") is { Length: > 0 } user)
            {
                // OpenAI allows 64 characters; Claude Code's user_id is longer, so it is hashed.
                json.WriteString("safety_identifier"u8, user.Length <= 64 ? user : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(user))));
            }

            json.WriteBoolean("store"u8, false);
            json.WriteBoolean("stream"u8, stream);
            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, toolNames);
    }

    /// <summary>Responses <c>response</c> object → Anthropic <c>message</c>; an Anthropic error body for a failed response.</summary>
    /// <param name="response">The upstream's 200 body.</param>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="toolNames">How the request shortened tool names, to give them back; none changed when null.</param>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> response, string clientModel, ToolNameMap? toolNames = null)
    {
        toolNames ??= ToolNameMap.Identity;
        var reader = new Utf8JsonReader(response);
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            return ErrorBodies.Anthropic("api_error", OpenAIWire.GetString(error, "message") ?? "the upstream's response failed", requestId: null);
        }

        if (!root.TryGetProperty("output", out var output) || output.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("The upstream answer is not a Responses response (no output array).");
        }

        var usage = ReadUsage(root);
        var calls = false;
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("id"u8, MessageId(OpenAIWire.GetString(root, "id")));
            json.WriteString("type"u8, "message"u8);
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("content"u8);
            foreach (var item in output.EnumerateArray())
            {
                switch (OpenAIWire.GetString(item, "type"))
                {
                    case "reasoning" when SummaryText(item) is { Length: > 0 } summary:
                        json.WriteStartObject();
                        json.WriteString("type"u8, "thinking"u8);
                        json.WriteString("thinking"u8, summary);
                        json.WriteString("signature"u8, GatewayThinking.Signature);
                        json.WriteEndObject();
                        break;
                    case "message" when item.TryGetProperty("content", out var parts) && parts.ValueKind == JsonValueKind.Array:
                        foreach (var part in parts.EnumerateArray())
                        {
                            if (OpenAIWire.GetString(part, "type") == "output_text" && OpenAIWire.GetString(part, "text") is { Length: > 0 } text)
                            {
                                json.WriteStartObject();
                                json.WriteString("type"u8, "text"u8);
                                json.WriteString("text"u8, text);
                                json.WriteEndObject();
                            }
                        }

                        break;
                    case "function_call":
                        calls = true;
                        json.WriteStartObject();
                        json.WriteString("type"u8, "tool_use"u8);
                        json.WriteString("id"u8, OpenAIWire.GetString(item, "call_id") ?? "call_" + OpenAIWire.RandomSuffix());
                        json.WriteString("name"u8, toolNames.ToClient(OpenAIWire.GetString(item, "name") ?? string.Empty));
                        json.WritePropertyName("input"u8);
                        ToolArguments.WriteAsInput(json, OpenAIWire.GetString(item, "arguments"));
                        json.WriteEndObject();
                        break;
                }
            }

            json.WriteEndArray();
            json.WriteString("stop_reason"u8, StopReason(root, calls));
            json.WriteNull("stop_sequence"u8);
            AnthropicStreamWriter.WriteUsage(json, usage);
            json.WriteEndObject();
        });
    }

    /// <summary>Responses SSE → Anthropic SSE (<see cref="ResponsesStreamToMessages"/>).</summary>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="estimatedInputTokens">The input tokens to announce in <c>message_start</c>, before the upstream reports them.</param>
    /// <param name="toolNames">How the request shortened tool names, to give them back; none changed when null.</param>
    public static IStreamConverter CreateStreamConverter(string clientModel, long estimatedInputTokens, ToolNameMap? toolNames = null) =>
        new ResponsesStreamToMessages(clientModel, estimatedInputTokens, toolNames ?? ToolNameMap.Identity);

    internal static string MessageId(string? responseId) =>
        "msg_" + (responseId is { Length: > 5 } id && id.StartsWith("resp_", StringComparison.Ordinal) ? id[5..] : OpenAIWire.RandomSuffix());

    /// <summary>The Anthropic stop reason of a finished response: its token limit, a refusal, a tool call, or the end of its turn.</summary>
    internal static string StopReason(JsonElement response, bool calledTools)
    {
        if (OpenAIWire.GetString(response, "status") == "incomplete")
        {
            var reason = response.TryGetProperty("incomplete_details", out var details) ? OpenAIWire.GetString(details, "reason") : null;
            return reason == "content_filter" ? "refusal" : "max_tokens";
        }

        return calledTools ? "tool_use" : "end_turn";
    }

    /// <summary>A response's usage in Anthropic's terms: cached input counted apart.</summary>
    internal static StreamUsage ReadUsage(JsonElement response) =>
        response.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object ? UsageReader.FromOpenAI(usage) : new StreamUsage();

    private static string? SummaryText(JsonElement reasoning) =>
        reasoning.TryGetProperty("summary", out var summary) && summary.ValueKind == JsonValueKind.Array
            ? string.Join("\n\n", summary.EnumerateArray().Select(p => OpenAIWire.GetString(p, "text")).Where(t => !string.IsNullOrEmpty(t)))
            : null;

    private static void WriteTurn(Utf8JsonWriter json, JsonElement message, ToolNameMap toolNames)
    {
        var role = OpenAIWire.GetString(message, "role") == "assistant" ? "assistant" : "user";
        if (!message.TryGetProperty("content", out var content))
        {
            return;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            WriteMessage(json, role, [(role == "assistant" ? "output_text" : "input_text", content.GetString()!)]);
            return;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        // Tool results answer the calls before them: they go first, each as its own item.
        foreach (var block in content.EnumerateArray().Where(b => OpenAIWire.GetString(b, "type") == "tool_result"))
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "function_call_output"u8);
            json.WriteString("call_id"u8, OpenAIWire.GetString(block, "tool_use_id") ?? string.Empty);
            var output = block.TryGetProperty("content", out var result) ? MessagesRequestText.ToolResult(result) : string.Empty;
            json.WriteString("output"u8, block.TryGetProperty("is_error", out var isError) && isError.ValueKind == JsonValueKind.True ? "[tool error] " + output : output);
            json.WriteEndObject();
        }

        var parts = new List<(string Type, string Value)>();
        foreach (var block in content.EnumerateArray())
        {
            switch (OpenAIWire.GetString(block, "type"))
            {
                case "text" when OpenAIWire.GetString(block, "text") is { Length: > 0 } text:
                    parts.Add((role == "assistant" ? "output_text" : "input_text", text));
                    break;
                case "image" when role == "user" && MediaUrl(block) is { } url:
                    parts.Add(("input_image", url));
                    break;
                case "document" when role == "user" && MediaUrl(block) is { } data:
                    parts.Add(("input_file", data));
                    break;
                case "tool_use":
                    // The text before a call stays before it.
                    WriteMessage(json, role, parts);
                    parts.Clear();
                    json.WriteStartObject();
                    json.WriteString("type"u8, "function_call"u8);
                    json.WriteString("call_id"u8, OpenAIWire.GetString(block, "id") ?? string.Empty);
                    json.WriteString("name"u8, toolNames.ToUpstream(OpenAIWire.GetString(block, "name") ?? string.Empty));
                    json.WriteString("arguments"u8, block.TryGetProperty("input", out var input) ? input.GetRawText() : "{}");
                    json.WriteEndObject();
                    break;
                default:
                    // thinking (Anthropic's proof), tool_result (written above), server tool blocks: no counterpart.
                    break;
            }
        }

        WriteMessage(json, role, parts);
    }

    private static void WriteMessage(Utf8JsonWriter json, string role, List<(string Type, string Value)> parts)
    {
        if (parts.Count == 0)
        {
            return;
        }

        json.WriteStartObject();
        json.WriteString("type"u8, "message"u8);
        json.WriteString("role"u8, role);
        json.WriteStartArray("content"u8);
        foreach (var (type, value) in parts)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, type);
            switch (type)
            {
                case "input_image":
                    json.WriteString("image_url"u8, value);
                    break;
                case "input_file":
                    json.WriteString("filename"u8, "document.pdf"u8);
                    json.WriteString("file_data"u8, value);
                    break;
                default:
                    json.WriteString("text"u8, value);
                    break;
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    // An image or document source as a URL: its own for a url source, a data: URL for base64.
    private static string? MediaUrl(JsonElement block)
    {
        if (!block.TryGetProperty("source", out var source))
        {
            return null;
        }

        return OpenAIWire.GetString(source, "type") switch
        {
            "url" => OpenAIWire.GetString(source, "url"),
            "base64" => $"data:{OpenAIWire.GetString(source, "media_type")};base64,{OpenAIWire.GetString(source, "data")}",
            _ => null,
        };
    }

    // Anthropic's client tools (no type, or "custom") become function tools; its server tools have no counterpart.
    private static void WriteTools(Utf8JsonWriter json, JsonElement root, ToolNameMap toolNames)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        var functions = tools.EnumerateArray().Where(t => OpenAIWire.GetString(t, "type") is null or "custom" && OpenAIWire.GetString(t, "name") is { Length: > 0 }).ToList();
        if (functions.Count == 0)
        {
            return;
        }

        json.WriteStartArray("tools"u8);
        foreach (var tool in functions)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "function"u8);
            json.WriteString("name"u8, toolNames.ToUpstream(OpenAIWire.GetString(tool, "name")!));
            if (OpenAIWire.GetString(tool, "description") is { } description)
            {
                json.WriteString("description"u8, description);
            }

            json.WritePropertyName("parameters"u8);
            if (tool.TryGetProperty("input_schema", out var schema) && schema.ValueKind == JsonValueKind.Object)
            {
                schema.WriteTo(json);
            }
            else
            {
                json.WriteRawValue("""{"type":"object","properties":{}}"""u8, skipInputValidation: true);
            }

            json.WriteBoolean("strict"u8, false);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        if (root.TryGetProperty("tool_choice", out var choice) && choice.ValueKind == JsonValueKind.Object)
        {
            switch (OpenAIWire.GetString(choice, "type"))
            {
                case "any":
                    json.WriteString("tool_choice"u8, "required"u8);
                    break;
                case "none":
                    json.WriteString("tool_choice"u8, "none"u8);
                    break;
                case "tool" when OpenAIWire.GetString(choice, "name") is { } name:
                    json.WriteStartObject("tool_choice"u8);
                    json.WriteString("type"u8, "function"u8);
                    json.WriteString("name"u8, toolNames.ToUpstream(name));
                    json.WriteEndObject();
                    break;
                default:
                    json.WriteString("tool_choice"u8, "auto"u8);
                    break;
            }

            if (choice.TryGetProperty("disable_parallel_tool_use", out var serial) && serial.ValueKind == JsonValueKind.True)
            {
                json.WriteBoolean("parallel_tool_calls"u8, false);
            }
        }
    }

    private sealed class ResponsesUpstreamCodec : IUpstreamCodec
    {
        public WireProtocol Protocol => WireProtocol.Responses;

        public string Path(ConversionContext context, bool stream) => ResponsesPassthrough.ResponsesPath;

        public GatewayResult<ConvertedRequest> FromMessages(ReadOnlySpan<byte> messagesRequest, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertRequest(messagesRequest, context.Options);
        }

        public byte[] AnswerToMessages(ReadOnlySpan<byte> answer, ToolNameMap toolNames, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertResponse(answer, context.ClientModel, toolNames);
        }

        public IStreamConverter StreamToMessages(ToolNameMap toolNames, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return CreateStreamConverter(context.ClientModel, context.InputTokens(), toolNames);
        }

        public (int Status, byte[] Body) ErrorToMessages(int status, ReadOnlySpan<byte> error, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ErrorMapping.UpstreamToAnthropic(status, error, context.RequestId);
        }
    }
}
