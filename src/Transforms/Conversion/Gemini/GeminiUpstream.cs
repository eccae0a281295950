using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// A Messages request (Claude Code's, or one the hub made from another client's) to Google's Gemini API (a
/// <c>gemini</c> channel), and its answer back (docs/conversion.md). <c>system</c> becomes <c>systemInstruction</c>;
/// user and assistant turns <c>user</c> and <c>model</c> contents; <c>tool_use</c> a <c>functionCall</c> part and
/// <c>tool_result</c> a <c>functionResponse</c> part (named after its call); images and PDFs <c>inlineData</c>;
/// tools <c>functionDeclarations</c> with their JSON Schema as <c>parametersJsonSchema</c>. Anthropic's thinking is
/// dropped (its signature is Anthropic's), except the gateway's blocks that carry a Gemini <c>thoughtSignature</c>
/// (<see cref="GatewayThinking.GeminiSignaturePrefix"/>): their signature goes back on the part after them, as
/// Gemini requires for function calls. Tool ids the gateway made up for Gemini's id-less calls are not sent back.
/// </summary>
public static class GeminiUpstream
{
    /// <summary>
    /// The <c>thoughtSignature</c> Google documents for function calls Gemini did not make (history from another model
    /// or provider): it tells Gemini 3 to skip checking the signature its first call of a turn must otherwise carry.
    /// </summary>
    internal const string ForeignCallSignature = "skip_thought_signature_validator";

    /// <summary>The prefix of tool ids the gateway gives Gemini function calls that came without one.</summary>
    internal const string MadeUpIdPrefix = "toolu_gemini_";

    /// <summary>The codec <see cref="ConversionTable"/> reaches a <c>gemini</c> channel with.</summary>
    public static IUpstreamCodec Codec { get; } = new GeminiUpstreamCodec();

    /// <summary>Messages request → Gemini request, or the 400 that says why not.</summary>
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

        if (UnansweredResult(messages) is { } orphan)
        {
            // Gemini names a function's response after its call: one without a call before it cannot be sent.
            return ConvertedRequest.Refused($"messages: the tool_result for '{orphan}' follows no tool_use with that id; Gemini needs the call to name the result");
        }

        var buffer = new ArrayBufferWriter<byte>(bodyLength + 256);
        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;

        // Gemini takes function names of at most 64 characters; longer ones (MCP tools') are shortened and mapped back.
        var toolNames = new ToolNameMap();
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            if (MessagesRequestText.System(root) is { Length: > 0 } system)
            {
                json.WriteStartObject("systemInstruction"u8);
                json.WriteStartArray("parts"u8);
                json.WriteStartObject();
                json.WriteString("text"u8, system);
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteStartArray("contents"u8);
            var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var message in messages.EnumerateArray())
            {
                WriteTurn(json, message, callNames, toolNames);
            }

            json.WriteEndArray();
            WriteTools(json, root, toolNames);
            WriteGenerationConfig(json, root, options);
            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, toolNames);
    }

    /// <summary>Gemini <c>GenerateContentResponse</c> → Anthropic <c>message</c>; an Anthropic error body for an answer that is an error.</summary>
    /// <param name="response">The upstream's 200 body.</param>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="requestId">The request id, for an error body.</param>
    /// <param name="toolNames">How the request shortened tool names, to give them back; none changed when null.</param>
    /// <exception cref="JsonException">The body is not a Gemini answer.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> response, string clientModel, string? requestId = null, ToolNameMap? toolNames = null)
    {
        toolNames ??= ToolNameMap.Identity;
        var reader = new Utf8JsonReader(response);
        using var document = JsonDocument.ParseValue(ref reader);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("The upstream answer is not a Gemini response.");
        }

        if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
        {
            return ErrorBodies.Anthropic("api_error", GeminiWire.GetString(error, "message") ?? "the upstream's answer was an error", requestId);
        }

        var candidate = FirstCandidate(root);
        if (candidate.ValueKind != JsonValueKind.Object && !GeminiWire.TryGet(root, "promptFeedback", out _) && !GeminiWire.TryGet(root, "usageMetadata", out _))
        {
            throw new JsonException("The upstream answer is not a Gemini response (no candidates).");
        }

        if (GeminiWire.GetString(candidate, "finishReason") is var finish && GeminiWire.IsBrokenFinish(finish))
        {
            return ErrorBodies.Anthropic("api_error", $"the upstream model's turn broke off ({finish})", requestId);
        }

        var usage = GeminiWire.TryGet(root, "usageMetadata", out var metadata) ? GeminiWire.ReadUsage(metadata, new StreamUsage()) : new StreamUsage();
        var calledTools = false;
        var blocked = candidate.ValueKind != JsonValueKind.Object;
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteString("id"u8, GeminiWire.MessageId(GeminiWire.GetString(root, "responseId")));
            json.WriteString("type"u8, "message"u8);
            json.WriteString("role"u8, "assistant"u8);
            json.WriteString("model"u8, clientModel);
            json.WriteStartArray("content"u8);
            foreach (var part in Parts(candidate))
            {
                var signature = GeminiWire.GetString(part, "thoughtSignature");
                var isThought = part.TryGetProperty("thought", out var t) && t.ValueKind == JsonValueKind.True;
                if (isThought)
                {
                    WriteThinking(json, GeminiWire.GetString(part, "text") ?? string.Empty, signature);
                    continue;
                }

                if (signature is not null)
                {
                    // The part's own proof, carried in a thinking block just before it.
                    WriteThinking(json, string.Empty, signature);
                }

                if (GeminiWire.TryGet(part, "functionCall", out var call))
                {
                    calledTools = true;
                    json.WriteStartObject();
                    json.WriteString("type"u8, "tool_use"u8);
                    json.WriteString("id"u8, GeminiWire.GetString(call, "id") is { Length: > 0 } id ? id : MadeUpIdPrefix + OpenAIWire.RandomSuffix());
                    json.WriteString("name"u8, toolNames.ToClient(GeminiWire.GetString(call, "name") ?? string.Empty));
                    json.WritePropertyName("input"u8);
                    if (GeminiWire.TryGet(call, "args", out var args) && args.ValueKind == JsonValueKind.Object)
                    {
                        args.WriteTo(json);
                    }
                    else
                    {
                        json.WriteStartObject();
                        json.WriteEndObject();
                    }

                    json.WriteEndObject();
                }
                else if (GeminiWire.GetString(part, "text") is { Length: > 0 } text)
                {
                    json.WriteStartObject();
                    json.WriteString("type"u8, "text"u8);
                    json.WriteString("text"u8, text);
                    json.WriteEndObject();
                }
            }

            json.WriteEndArray();
            json.WriteString("stop_reason"u8, blocked ? "refusal" : GeminiWire.StopReason(GeminiWire.GetString(candidate, "finishReason"), calledTools));
            json.WriteNull("stop_sequence"u8);
            AnthropicStreamWriter.WriteUsage(json, usage);
            json.WriteEndObject();
        });
    }

    /// <summary>Gemini SSE → Anthropic SSE (<see cref="GeminiStreamToMessages"/>).</summary>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="estimatedInputTokens">The input tokens to announce in <c>message_start</c>, before the upstream reports them.</param>
    /// <param name="toolNames">How the request shortened tool names, to give them back; none changed when null.</param>
    public static IStreamConverter CreateStreamConverter(string clientModel, long estimatedInputTokens, ToolNameMap? toolNames = null) =>
        new GeminiStreamToMessages(clientModel, estimatedInputTokens, toolNames ?? ToolNameMap.Identity);

    internal static JsonElement FirstCandidate(JsonElement response) =>
        GeminiWire.TryGet(response, "candidates", out var candidates) && candidates.ValueKind == JsonValueKind.Array && candidates.GetArrayLength() > 0
            ? candidates[0]
            : default;

    internal static IEnumerable<JsonElement> Parts(JsonElement candidate) =>
        candidate.ValueKind == JsonValueKind.Object && GeminiWire.TryGet(candidate, "content", out var content)
            && GeminiWire.TryGet(content, "parts", out var parts) && parts.ValueKind == JsonValueKind.Array
            ? parts.EnumerateArray()
            : [];

    internal static void WriteThinking(Utf8JsonWriter json, string thinking, string? thoughtSignature)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "thinking"u8);
        json.WriteString("thinking"u8, thinking);
        json.WriteString("signature"u8, GatewayThinking.ForGemini(thoughtSignature));
        json.WriteEndObject();
    }

    // A turn whose blocks all have no Gemini counterpart (only Anthropic's thinking, say) is left out: Gemini refuses
    // a content without parts. The parts are written to a scratch buffer first to know.
    private static void WriteTurn(Utf8JsonWriter json, JsonElement message, Dictionary<string, string> callNames, ToolNameMap toolNames)
    {
        var model = OpenAIWire.GetString(message, "role") == "assistant";
        if (!message.TryGetProperty("content", out var content))
        {
            return;
        }

        var scratch = new ArrayBufferWriter<byte>(256);
        using (var parts = new Utf8JsonWriter(scratch, OpenAIWire.WriterOptions))
        {
            parts.WriteStartArray();
            WriteParts(parts, content, model, callNames, toolNames);
            parts.WriteEndArray();
        }

        if (scratch.WrittenCount <= 2)
        {
            return;
        }

        json.WriteStartObject();
        json.WriteString("role"u8, model ? "model"u8 : "user"u8);
        json.WritePropertyName("parts"u8);
        json.WriteRawValue(scratch.WrittenSpan, skipInputValidation: true);
        json.WriteEndObject();
    }

    private static void WriteParts(Utf8JsonWriter json, JsonElement content, bool model, Dictionary<string, string> callNames, ToolNameMap toolNames)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            WriteText(json, content.GetString()!, null);
        }
        else if (content.ValueKind == JsonValueKind.Array)
        {
            // Function responses answer the calls before them: first in the turn, as Gemini expects.
            foreach (var block in content.EnumerateArray().Where(b => OpenAIWire.GetString(b, "type") == "tool_result"))
            {
                WriteFunctionResponse(json, block, callNames, toolNames);
            }

            string? signature = null;
            var firstCall = true;
            foreach (var block in content.EnumerateArray())
            {
                switch (OpenAIWire.GetString(block, "type"))
                {
                    case "thinking":
                        // Anthropic's own thinking has no Gemini counterpart; a Gemini signature the gateway carried goes back.
                        signature = GatewayThinking.GeminiThoughtSignature(OpenAIWire.GetString(block, "signature")) ?? signature;
                        break;
                    case "text" when OpenAIWire.GetString(block, "text") is { Length: > 0 } text:
                        WriteText(json, text, model ? signature : null);
                        signature = null;
                        break;
                    case "image" or "document" when !model && block.TryGetProperty("source", out var source):
                        WriteMedia(json, source);
                        break;
                    case "tool_use":
                        var id = OpenAIWire.GetString(block, "id") ?? string.Empty;
                        var name = OpenAIWire.GetString(block, "name") ?? string.Empty;
                        callNames[id] = name;
                        json.WriteStartObject();
                        json.WriteStartObject("functionCall"u8);
                        if (id.Length > 0 && !id.StartsWith(MadeUpIdPrefix, StringComparison.Ordinal))
                        {
                            json.WriteString("id"u8, id);
                        }

                        json.WriteString("name"u8, toolNames.ToUpstream(name));
                        json.WritePropertyName("args"u8);
                        if (block.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object)
                        {
                            input.WriteTo(json);
                        }
                        else
                        {
                            json.WriteStartObject();
                            json.WriteEndObject();
                        }

                        json.WriteEndObject();
                        // Gemini 3 refuses a turn whose first call comes back unsigned. A call from another family (or
                        // whose proof another client dropped) has none: Google's documented marker for such history.
                        if ((signature ?? (model && firstCall ? ForeignCallSignature : null)) is { } proof)
                        {
                            json.WriteString("thoughtSignature"u8, proof);
                            signature = null;
                        }

                        firstCall = false;

                        json.WriteEndObject();
                        break;
                    default:
                        // tool_result (written above), redacted thinking, server tool blocks: no counterpart.
                        break;
                }
            }

            if (signature is not null && model)
            {
                // A signature the model put on the end of its turn (an empty text part): it goes back there.
                WriteText(json, string.Empty, signature);
            }
        }
    }

    // The id of the first tool_result with no tool_use of that id before it; null when every result has its call.
    private static string? UnansweredResult(JsonElement messages)
    {
        var calls = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in messages.EnumerateArray())
        {
            if (!message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array)
            {
                continue;
            }

            foreach (var block in content.EnumerateArray())
            {
                switch (OpenAIWire.GetString(block, "type"))
                {
                    case "tool_use" when OpenAIWire.GetString(block, "id") is { } id:
                        calls.Add(id);
                        break;
                    case "tool_result" when OpenAIWire.GetString(block, "tool_use_id") is not { } answered || !calls.Contains(answered):
                        return OpenAIWire.GetString(block, "tool_use_id") ?? "(no id)";
                }
            }
        }

        return null;
    }

    private static void WriteText(Utf8JsonWriter json, string text, string? thoughtSignature)
    {
        json.WriteStartObject();
        json.WriteString("text"u8, text);
        if (thoughtSignature is not null)
        {
            json.WriteString("thoughtSignature"u8, thoughtSignature);
        }

        json.WriteEndObject();
    }

    private static void WriteMedia(Utf8JsonWriter json, JsonElement source)
    {
        switch (OpenAIWire.GetString(source, "type"))
        {
            case "base64":
                json.WriteStartObject();
                json.WriteStartObject("inlineData"u8);
                json.WriteString("mimeType"u8, OpenAIWire.GetString(source, "media_type") ?? "application/octet-stream");
                json.WriteString("data"u8, OpenAIWire.GetString(source, "data") ?? string.Empty);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case "url" when OpenAIWire.GetString(source, "url") is { Length: > 0 } url:
                json.WriteStartObject();
                json.WriteStartObject("fileData"u8);
                json.WriteString("mimeType"u8, MimeOf(url));
                json.WriteString("fileUri"u8, url);
                json.WriteEndObject();
                json.WriteEndObject();
                break;
            case "text" when OpenAIWire.GetString(source, "data") is { Length: > 0 } text:
                WriteText(json, text, null);
                break;
        }
    }

    private static string MimeOf(string url)
    {
        var path = url.Split('?', 2)[0];
        return Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".png" => "image/png",
            ".gif" => "image/gif",
            ".webp" => "image/webp",
            ".pdf" => "application/pdf",
            _ => "image/jpeg",
        };
    }

    private static void WriteFunctionResponse(Utf8JsonWriter json, JsonElement block, Dictionary<string, string> callNames, ToolNameMap toolNames)
    {
        var id = OpenAIWire.GetString(block, "tool_use_id") ?? string.Empty;
        var output = block.TryGetProperty("content", out var content) ? MessagesRequestText.ToolResult(content) : string.Empty;
        var isError = block.TryGetProperty("is_error", out var e) && e.ValueKind == JsonValueKind.True;
        json.WriteStartObject();
        json.WriteStartObject("functionResponse"u8);
        if (id.Length > 0 && !id.StartsWith(MadeUpIdPrefix, StringComparison.Ordinal))
        {
            json.WriteString("id"u8, id);
        }

        json.WriteString("name"u8, toolNames.ToUpstream(callNames.GetValueOrDefault(id, string.Empty)));
        json.WriteStartObject("response"u8);
        json.WriteString(isError ? "error"u8 : "output"u8, output);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    // Anthropic's client tools (no type, or "custom") become function declarations; its server tools have no counterpart.
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
        json.WriteStartObject();
        json.WriteStartArray("functionDeclarations"u8);
        foreach (var tool in functions)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, toolNames.ToUpstream(OpenAIWire.GetString(tool, "name")!));
            if (OpenAIWire.GetString(tool, "description") is { } description)
            {
                json.WriteString("description"u8, description);
            }

            if (tool.TryGetProperty("input_schema", out var schema) && schema.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("parametersJsonSchema"u8);
                schema.WriteTo(json);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndArray();
        if (root.TryGetProperty("tool_choice", out var choice) && choice.ValueKind == JsonValueKind.Object)
        {
            json.WriteStartObject("toolConfig"u8);
            json.WriteStartObject("functionCallingConfig"u8);
            switch (OpenAIWire.GetString(choice, "type"))
            {
                case "any":
                    json.WriteString("mode"u8, "ANY"u8);
                    break;
                case "none":
                    json.WriteString("mode"u8, "NONE"u8);
                    break;
                case "tool" when OpenAIWire.GetString(choice, "name") is { } name:
                    json.WriteString("mode"u8, "ANY"u8);
                    json.WriteStartArray("allowedFunctionNames"u8);
                    json.WriteStringValue(toolNames.ToUpstream(name));
                    json.WriteEndArray();
                    break;
                default:
                    json.WriteString("mode"u8, "AUTO"u8);
                    break;
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }
    }

    private static void WriteGenerationConfig(Utf8JsonWriter json, JsonElement root, ConversionOptions options)
    {
        json.WriteStartObject("generationConfig"u8);
        if (root.TryGetProperty("max_tokens", out var maxTokens) && maxTokens.TryGetInt64(out var max))
        {
            json.WriteNumber("maxOutputTokens"u8, options.MaxTokensLimit is { } limit && max > limit ? limit : max);
        }

        foreach (var (from, to) in (ReadOnlySpan<(string, string)>)[("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK")])
        {
            if (root.TryGetProperty(from, out var number) && number.ValueKind == JsonValueKind.Number)
            {
                json.WritePropertyName(to);
                number.WriteTo(json);
            }
        }

        if (root.TryGetProperty("stop_sequences", out var stops) && stops.ValueKind == JsonValueKind.Array && stops.GetArrayLength() > 0)
        {
            json.WritePropertyName("stopSequences"u8);
            stops.WriteTo(json);
        }

        if (root.TryGetProperty("thinking", out var thinking) && OpenAIWire.GetString(thinking, "type") is { } mode)
        {
            json.WriteStartObject("thinkingConfig"u8);
            if (mode == "enabled" && OpenAIWire.TryGetLong(thinking, "budget_tokens", out var budget))
            {
                json.WriteNumber("thinkingBudget"u8, budget);
                json.WriteBoolean("includeThoughts"u8, true);
            }
            else if (mode == "adaptive")
            {
                json.WriteNumber("thinkingBudget"u8, -1);
                json.WriteBoolean("includeThoughts"u8, true);
            }
            else
            {
                json.WriteBoolean("includeThoughts"u8, false);
            }

            json.WriteEndObject();
        }

        if (root.TryGetProperty("output_config", out var output) && output.TryGetProperty("format", out var format)
            && OpenAIWire.GetString(format, "type") == "json_schema" && format.TryGetProperty("schema", out var schema))
        {
            json.WriteString("responseMimeType"u8, "application/json"u8);
            json.WritePropertyName("responseJsonSchema"u8);
            schema.WriteTo(json);
        }

        json.WriteNumber("candidateCount"u8, 1);
        json.WriteEndObject();
    }

    private sealed class GeminiUpstreamCodec : IUpstreamCodec
    {
        public WireProtocol Protocol => WireProtocol.Gemini;

        public string Path(ConversionContext context, bool stream)
        {
            ArgumentNullException.ThrowIfNull(context);
            return GeminiWire.MethodPath(context.Options.UpstreamModel, stream ? "streamGenerateContent" : "generateContent");
        }

        public GatewayResult<ConvertedRequest> FromMessages(ReadOnlySpan<byte> messagesRequest, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertRequest(messagesRequest, context.Options);
        }

        public byte[] AnswerToMessages(ReadOnlySpan<byte> answer, ToolNameMap toolNames, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertResponse(answer, context.ClientModel, context.RequestId, toolNames);
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
