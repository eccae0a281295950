using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// Anthropic Messages request → OpenAI Chat Completions request (docs/protocols.md §1). The output is built
/// from a whitelist: every field written here is one OpenAI knows; everything else the client sent
/// (<c>context_management</c>, <c>cache_control</c>, <c>container</c>, <c>mcp_servers</c>,
/// <c>service_tier</c>, <c>thinking.display</c>, <c>top_k</c>, unknown fields) has no counterpart and is
/// dropped, never forwarded.
/// </summary>
internal static class ChatRequestBuilder
{
    /// <summary>Claude Code's per-request attribution block; it changes every request and defeats prompt caches.</summary>
    public const string AttributionPrefix = "x-anthropic-billing-header:";

    /// <summary>OpenAI allows at most 4 stop sequences.</summary>
    private const int MaxStopSequences = 4;

    /// <summary>OpenAI limits <c>user</c> to 64 characters; longer ids are hashed.</summary>
    private const int MaxUserLength = 64;

    public static GatewayResult<ConvertedRequest> Convert(ReadOnlySpan<byte> body, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (body.IsEmpty)
        {
            return ConvertedRequest.Refused("the request body is empty: send a JSON object");
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(body);
            document = JsonDocument.ParseValue(ref reader);

            // Anything but whitespace after the value makes this throw.
            reader.Read();
        }
        catch (JsonException ex)
        {
            return ConvertedRequest.Refused($"malformed JSON: {ex.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return ConvertedRequest.Refused("the request body must be a JSON object");
            }

            if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
            {
                return ConvertedRequest.Refused("messages: field required (an array of messages)");
            }

            if (Validate(root, messages) is { } error)
            {
                return ConvertedRequest.Refused(error);
            }

            var toolNames = new ToolNameMap();
            var buffer = new ArrayBufferWriter<byte>(Math.Max(256, body.Length));
            bool stream;
            try
            {
                using var writer = new Utf8JsonWriter(buffer, ChatMapping.WriterOptions);
                stream = Write(writer, root, messages, options, toolNames);
            }
            catch (InvalidOperationException ex)
            {
                // A field of a JSON type the validation above did not foresee: still the client's mistake.
                return ConvertedRequest.Refused($"a field has a value of the wrong type ({ex.Message})");
            }

            return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, toolNames);
        }
    }

    /// <summary>Checks the shapes the conversion relies on; returns the first problem, or null.</summary>
    private static string? Validate(JsonElement root, JsonElement messages)
    {
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            if (message.ValueKind != JsonValueKind.Object)
            {
                return $"messages.{i}: must be an object";
            }

            var role = ChatMapping.GetString(message, "role");
            if (role is not ("user" or "assistant" or "system"))
            {
                return $"messages.{i}.role: must be \"user\", \"assistant\" or \"system\"";
            }

            if (!message.TryGetProperty("content", out var content) || content.ValueKind is not (JsonValueKind.String or JsonValueKind.Array))
            {
                return $"messages.{i}.content: must be a string or an array of content blocks";
            }

            if (content.ValueKind == JsonValueKind.Array && ValidateBlocks(content, $"messages.{i}.content") is { } blockError)
            {
                return blockError;
            }

            i++;
        }

        if (root.TryGetProperty("system", out var system) && system.ValueKind is not (JsonValueKind.String or JsonValueKind.Array or JsonValueKind.Null))
        {
            return "system: must be a string or an array of text blocks";
        }

        if (system.ValueKind == JsonValueKind.Array && ValidateBlocks(system, "system") is { } systemError)
        {
            return systemError;
        }

        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
        {
            return "tools: must be an array";
        }

        if (tools.ValueKind == JsonValueKind.Array)
        {
            var t = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                if (tool.ValueKind != JsonValueKind.Object)
                {
                    return $"tools[{t}]: must be a tool object";
                }

                // Server tools (web_search_20250305, ...) carry a type and are refused later with their own message.
                if (!tool.TryGetProperty("type", out _) && ChatMapping.GetString(tool, "name") is not { Length: > 0 })
                {
                    return $"tools[{t}].name: field required";
                }

                t++;
            }
        }

        return null;
    }

    /// <summary>
    /// Content blocks the conversion would otherwise have to drop silently: anything but an object with a
    /// <c>type</c>, and the blocks whose meaning lives in a required field (a text without text, an image or
    /// document without a source, a tool use or tool result without its id). Unknown block types are left to
    /// the conversion, which documents what it does with them.
    /// </summary>
    private static string? ValidateBlocks(JsonElement blocks, string path)
    {
        var k = 0;
        foreach (var block in blocks.EnumerateArray())
        {
            var at = $"{path}[{k++}]";
            if (block.ValueKind != JsonValueKind.Object)
            {
                return $"{at}: must be a content block object";
            }

            var type = ChatMapping.GetString(block, "type");
            var missing = type switch
            {
                null => "type",
                "text" when !block.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String => "text",
                "image" or "document" when !block.TryGetProperty("source", out var source) || source.ValueKind != JsonValueKind.Object => "source",
                "tool_use" when ChatMapping.GetString(block, "id") is not { Length: > 0 } => "id",
                "tool_use" when ChatMapping.GetString(block, "name") is not { Length: > 0 } => "name",
                "tool_result" when ChatMapping.GetString(block, "tool_use_id") is not { Length: > 0 } => "tool_use_id",
                _ => null,
            };
            if (missing is not null)
            {
                return $"{at}.{missing}: field required";
            }

            if (type == "tool_result" && block.TryGetProperty("content", out var inner) && inner.ValueKind == JsonValueKind.Array
                && ValidateBlocks(inner, at + ".content") is { } innerError)
            {
                return innerError;
            }
        }

        return null;
    }

    /// <returns>Whether the request asks for a stream.</returns>
    private static bool Write(Utf8JsonWriter w, JsonElement root, JsonElement messages, ConversionOptions options, ToolNameMap toolNames)
    {
        w.WriteStartObject();
        w.WriteString("model"u8, options.UpstreamModel);

        w.WriteStartArray("messages"u8);
        if (root.TryGetProperty("system", out var system) && JoinText(system, options.StripClaudeCodeAttribution) is { Length: > 0 } systemText)
        {
            WriteTextMessage(w, "system", systemText);
        }

        var count = messages.GetArrayLength();
        var index = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var content = message.GetProperty("content");
            switch (ChatMapping.GetString(message, "role"))
            {
                case "system":
                    // Claude Code's mid-conversation system messages keep their position (§1.2).
                    if (JoinText(content, options.StripClaudeCodeAttribution) is { Length: > 0 } text)
                    {
                        WriteTextMessage(w, "system", text);
                    }

                    break;
                case "user":
                    WriteUser(w, content);
                    break;
                default:
                    // A final assistant message is a prefill ("continue from here"). Chat Completions has no
                    // such thing: most servers answer it as a finished turn or reject it, and newer Claude
                    // models refuse prefill themselves (§1.2, §8 #29). Dropping it yields a normal answer.
                    if (index < count - 1)
                    {
                        WriteAssistant(w, content, options, toolNames);
                    }

                    break;
            }

            index++;
        }

        w.WriteEndArray();

        if (root.TryGetProperty("max_tokens", out var maxTokens) && maxTokens.ValueKind == JsonValueKind.Number && maxTokens.TryGetInt64(out var max))
        {
            // Claude Code asks for 32k-128k; DeepSeek chat accepts at most 8192 (§8 #26).
            if (options.MaxTokensLimit is { } limit && max > limit)
            {
                max = limit;
            }

            w.WriteNumber(options.MaxTokensField, max);
        }

        CopyNumber(w, root, "temperature");
        CopyNumber(w, root, "top_p");

        if (root.TryGetProperty("stop_sequences", out var stops) && stops.ValueKind == JsonValueKind.Array && stops.GetArrayLength() > 0)
        {
            w.WriteStartArray("stop"u8);
            var written = 0;
            foreach (var stop in stops.EnumerateArray())
            {
                if (stop.ValueKind == JsonValueKind.String && written < MaxStopSequences)
                {
                    w.WriteStringValue(stop.GetString());
                    written++;
                }
            }

            w.WriteEndArray();
        }

        var stream = root.TryGetProperty("stream", out var streamValue) && streamValue.ValueKind == JsonValueKind.True;
        if (stream)
        {
            w.WriteBoolean("stream"u8, true);
            if (options.IncludeStreamUsage)
            {
                w.WriteStartObject("stream_options"u8);
                w.WriteBoolean("include_usage"u8, true);
                w.WriteEndObject();
            }
        }
        else if (streamValue.ValueKind == JsonValueKind.False)
        {
            w.WriteBoolean("stream"u8, false);
        }

        if (root.TryGetProperty("metadata", out var metadata) && ChatMapping.GetString(metadata, "user_id") is { Length: > 0 } userId)
        {
            w.WriteString("user"u8, userId.Length <= MaxUserLength ? userId : System.Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(userId))));
        }

        WriteTools(w, root, toolNames);
        WriteReasoningEffort(w, root);
        WriteResponseFormat(w, root);

        w.WriteEndObject();
        return stream;
    }

    private static void CopyNumber(Utf8JsonWriter w, JsonElement root, string name)
    {
        if (root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number)
        {
            w.WritePropertyName(name);
            value.WriteTo(w);
        }
    }

    private static void WriteTextMessage(Utf8JsonWriter w, string role, string text)
    {
        w.WriteStartObject();
        w.WriteString("role"u8, role);
        w.WriteString("content"u8, text);
        w.WriteEndObject();
    }

    /// <summary>A string, or the texts of text blocks joined with a blank line; cache_control is dropped.</summary>
    private static string JoinText(JsonElement content, bool stripAttribution)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            return content.GetString()!;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return string.Empty;
        }

        var builder = new StringBuilder();
        foreach (var block in content.EnumerateArray())
        {
            if (ChatMapping.GetString(block, "type") is not "text" || ChatMapping.GetString(block, "text") is not { Length: > 0 } text)
            {
                continue;
            }

            if (stripAttribution && text.StartsWith(AttributionPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            AppendParagraph(builder, text);
        }

        return builder.ToString();
    }

    private static void AppendParagraph(StringBuilder builder, string text)
    {
        if (builder.Length > 0)
        {
            builder.Append("\n\n");
        }

        builder.Append(text);
    }

    /// <summary>
    /// A user message: tool_result blocks first, each as a <c>tool</c> message (OpenAI wants them right
    /// after the assistant's tool_calls), then the rest as one user message (§1.2).
    /// </summary>
    private static void WriteUser(Utf8JsonWriter w, JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            WriteTextMessage(w, "user", content.GetString()!);
            return;
        }

        var parts = new List<UserPart>();
        foreach (var block in content.EnumerateArray())
        {
            if (ChatMapping.GetString(block, "type") == "tool_result")
            {
                WriteToolResult(w, block, parts);
            }
        }

        foreach (var block in content.EnumerateArray())
        {
            switch (ChatMapping.GetString(block, "type"))
            {
                case "text" when ChatMapping.GetString(block, "text") is { Length: > 0 } text:
                    parts.Add(UserPart.OfText(text));
                    break;
                case "image" or "document":
                    AddMediaPart(block, parts);
                    break;
                default:
                    // tool_result (written above), empty text, and blocks with no OpenAI counterpart.
                    break;
            }
        }

        if (parts.Count == 0)
        {
            return;
        }

        w.WriteStartObject();
        w.WriteString("role"u8, "user");
        if (parts.TrueForAll(p => p.Text is not null))
        {
            // Text only: one string. Several OpenAI-compatible servers (DeepSeek among them) take no
            // content arrays, and a string means the same thing.
            var builder = new StringBuilder();
            foreach (var part in parts)
            {
                AppendParagraph(builder, part.Text!);
            }

            w.WriteString("content"u8, builder.ToString());
        }
        else
        {
            w.WriteStartArray("content"u8);
            foreach (var part in parts)
            {
                part.WriteTo(w);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WriteToolResult(Utf8JsonWriter w, JsonElement block, List<UserPart> followUp)
    {
        var toolUseId = AnthropicToolId.Sanitize(ChatMapping.GetString(block, "tool_use_id") ?? string.Empty);
        var text = new StringBuilder();
        if (block.TryGetProperty("content", out var content))
        {
            if (content.ValueKind == JsonValueKind.String)
            {
                text.Append(content.GetString());
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                foreach (var part in content.EnumerateArray())
                {
                    AppendToolResultPart(text, part, toolUseId, followUp);
                }
            }
        }

        var isError = block.TryGetProperty("is_error", out var flag) && flag.ValueKind == JsonValueKind.True;

        w.WriteStartObject();
        w.WriteString("role"u8, "tool");
        w.WriteString("tool_call_id"u8, toolUseId);

        // OpenAI has no error flag on tool messages: a prefix keeps the signal (LiteLLM drops it).
        w.WriteString("content"u8, isError ? "[tool error] " + text : text.ToString());
        w.WriteEndObject();
    }

    private static void AppendToolResultPart(StringBuilder text, JsonElement part, string toolUseId, List<UserPart> followUp)
    {
        string? line;
        switch (ChatMapping.GetString(part, "type"))
        {
            case "text":
                line = ChatMapping.GetString(part, "text");
                break;
            case "tool_reference":
                // Claude Code's ToolSearch answers with references to deferred tools.
                line = $"[tool reference: {ChatMapping.GetString(part, "tool_name") ?? ChatMapping.GetString(part, "name") ?? "unknown"}]";
                break;
            case "image" or "document":
                // OpenAI tool messages take text only: the media goes into the user message that follows
                // (§8 #27), so it is not silently lost.
                var before = followUp.Count;
                followUp.Add(UserPart.OfText($"[{ChatMapping.GetString(part, "type")} from tool result {toolUseId}]"));
                AddMediaPart(part, followUp);
                if (followUp.Count == before + 2 && followUp[^1].Text is { } inlined)
                {
                    // A text document: it stays in the tool message.
                    followUp.RemoveRange(before, 2);
                    line = inlined;
                }
                else
                {
                    line = $"[{ChatMapping.GetString(part, "type")} attached in the next user message]";
                }

                break;
            default:
                line = null;
                break;
        }

        if (string.IsNullOrEmpty(line))
        {
            return;
        }

        if (text.Length > 0)
        {
            text.Append('\n');
        }

        text.Append(line);
    }

    /// <summary>An image or document block as an OpenAI content part (§1.2).</summary>
    private static void AddMediaPart(JsonElement block, List<UserPart> parts)
    {
        var isImage = ChatMapping.GetString(block, "type") == "image";
        if (!block.TryGetProperty("source", out var source) || source.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var mediaType = ChatMapping.GetString(source, "media_type");
        var data = ChatMapping.GetString(source, "data");
        switch (ChatMapping.GetString(source, "type"))
        {
            case "base64" when data is not null && isImage:
                parts.Add(UserPart.OfImage($"data:{mediaType ?? "image/png"};base64,{data}"));
                break;
            case "url" when ChatMapping.GetString(source, "url") is { } url:
                parts.Add(isImage ? UserPart.OfImage(url) : UserPart.OfText($"[document: {url}]"));
                break;
            case "base64" when data is not null:
                var title = ChatMapping.GetString(block, "title");
                parts.Add(UserPart.OfFile(title is { Length: > 0 } ? title : "document.pdf", $"data:{mediaType ?? "application/pdf"};base64,{data}"));
                break;
            case "text" when data is { Length: > 0 }:
                parts.Add(UserPart.OfText(data));
                break;
            case "content" when source.TryGetProperty("content", out var inner):
                if (JoinText(inner, stripAttribution: false) is { Length: > 0 } joined)
                {
                    parts.Add(UserPart.OfText(joined));
                }

                break;
            default:
                // A Files API reference (source type "file") cannot be resolved by an OpenAI upstream.
                parts.Add(UserPart.OfText($"[{(isImage ? "image" : "document")} not available to this model]"));
                break;
        }
    }

    /// <summary>
    /// An assistant message: text joined into <c>content</c> (null, never <c>""</c>, next to tool calls:
    /// §8 #9), tool_use blocks as tool_calls, thinking as <c>reasoning_content</c> when the channel wants it
    /// back (DeepSeek requires it on tool-call turns: §8 #12).
    /// </summary>
    private static void WriteAssistant(Utf8JsonWriter w, JsonElement content, ConversionOptions options, ToolNameMap toolNames)
    {
        if (content.ValueKind == JsonValueKind.String)
        {
            if (content.GetString() is { Length: > 0 } s)
            {
                WriteTextMessage(w, "assistant", s);
            }

            return;
        }

        var text = new StringBuilder();
        var reasoning = new StringBuilder();
        var hasToolCalls = false;
        foreach (var block in content.EnumerateArray())
        {
            switch (ChatMapping.GetString(block, "type"))
            {
                case "text" when ChatMapping.GetString(block, "text") is { Length: > 0 } t:
                    AppendParagraph(text, t);
                    break;
                case "thinking" when ChatMapping.GetString(block, "thinking") is { Length: > 0 } t:
                    reasoning.Append(t);
                    break;
                case "tool_use":
                    hasToolCalls = true;
                    break;
                default:
                    // redacted_thinking is encrypted (no text to pass back); server tool blocks have no counterpart.
                    break;
            }
        }

        if (text.Length == 0 && !hasToolCalls)
        {
            // Nothing an OpenAI upstream can take (only thinking, or empty text): an assistant message
            // with neither content nor tool_calls is rejected by several servers.
            return;
        }

        w.WriteStartObject();
        w.WriteString("role"u8, "assistant");
        if (text.Length > 0)
        {
            w.WriteString("content"u8, text.ToString());
        }
        else
        {
            w.WriteNull("content"u8);
        }

        if (options.PassBackReasoning && reasoning.Length > 0)
        {
            w.WriteString("reasoning_content"u8, reasoning.ToString());
        }

        if (hasToolCalls)
        {
            w.WriteStartArray("tool_calls"u8);
            foreach (var block in content.EnumerateArray())
            {
                if (ChatMapping.GetString(block, "type") != "tool_use")
                {
                    continue;
                }

                OpenAIWire.WriteToolCall(w,
                    AnthropicToolId.Sanitize(ChatMapping.GetString(block, "id") ?? string.Empty),
                    toolNames.ToUpstream(ChatMapping.GetString(block, "name") ?? string.Empty),
                    block.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object ? ChatMapping.ToCompactJson(input) : "{}");
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    /// <summary>Function tools, tool_choice and parallel_tool_calls (§1.1; §8 #30, #31).</summary>
    private static void WriteTools(Utf8JsonWriter w, JsonElement root, ToolNameMap toolNames)
    {
        var kept = new List<JsonElement>();
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in tools.EnumerateArray())
            {
                if (tool.ValueKind != JsonValueKind.Object || ChatMapping.GetString(tool, "name") is not { Length: > 0 })
                {
                    continue;
                }

                // Server tools (web_search_20250305, bash_20250124, ...) carry a versioned type and no
                // input_schema: Anthropic runs or defines them, an OpenAI upstream cannot.
                var type = ChatMapping.GetString(tool, "type");
                var hasSchema = tool.TryGetProperty("input_schema", out var schema) && schema.ValueKind == JsonValueKind.Object;
                if (!hasSchema && type is not null and not "custom")
                {
                    continue;
                }

                kept.Add(tool);
            }
        }

        if (kept.Count == 0)
        {
            // tool_choice without tools is a 400 upstream (§8 #30).
            return;
        }

        w.WriteStartArray("tools"u8);
        foreach (var tool in kept)
        {
            w.WriteStartObject();
            w.WriteString("type"u8, "function");
            w.WriteStartObject("function"u8);
            w.WriteString("name"u8, toolNames.ToUpstream(ChatMapping.GetString(tool, "name")!));
            if (ChatMapping.GetString(tool, "description") is { } description)
            {
                w.WriteString("description"u8, description);
            }

            // Only input_schema becomes parameters: the tool's own "type" never overwrites parameters.type
            // (LiteLLM #30557), and defer_loading / cache_control have no counterpart.
            w.WritePropertyName("parameters"u8);
            if (tool.TryGetProperty("input_schema", out var schema) && schema.ValueKind == JsonValueKind.Object)
            {
                WriteSchema(w, schema);
            }
            else
            {
                w.WriteStartObject();
                w.WriteString("type"u8, "object");
                w.WriteStartObject("properties"u8);
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();

        if (!root.TryGetProperty("tool_choice", out var choice) || choice.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        switch (ChatMapping.GetString(choice, "type"))
        {
            case "auto":
                w.WriteString("tool_choice"u8, "auto");
                break;
            case "any":
                w.WriteString("tool_choice"u8, "required");
                break;
            case "none":
                w.WriteString("tool_choice"u8, "none");
                break;
            case "tool" when ChatMapping.GetString(choice, "name") is { Length: > 0 } name:
                w.WriteStartObject("tool_choice"u8);
                w.WriteString("type"u8, "function");
                w.WriteStartObject("function"u8);
                w.WriteString("name"u8, toolNames.ToUpstream(name));
                w.WriteEndObject();
                w.WriteEndObject();
                break;
            default:
                break;
        }

        if (choice.TryGetProperty("disable_parallel_tool_use", out var disable) && disable.ValueKind == JsonValueKind.True)
        {
            w.WriteBoolean("parallel_tool_calls"u8, false);
        }
    }

    /// <summary>
    /// A JSON Schema without its top-level <c>$schema</c>: Claude Code sends the 2020-12 meta-schema URL,
    /// which several OpenAI-compatible servers reject.
    /// </summary>
    private static void WriteSchema(Utf8JsonWriter w, JsonElement schema)
    {
        w.WriteStartObject();
        foreach (var property in schema.EnumerateObject())
        {
            if (property.NameEquals("$schema"u8))
            {
                continue;
            }

            property.WriteTo(w);
        }

        w.WriteEndObject();
    }

    /// <summary>thinking / output_config.effort → reasoning_effort (§1.1, §7).</summary>
    private static void WriteReasoningEffort(Utf8JsonWriter w, JsonElement root)
    {
        if (!root.TryGetProperty("thinking", out var thinking) || thinking.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        string? effort = null;
        switch (ChatMapping.GetString(thinking, "type"))
        {
            case "enabled":
                // claude-code-router's buckets: <=1024 low, <=8192 medium, else high.
                var budget = ChatMapping.GetLong(thinking, "budget_tokens") ?? 0;
                effort = budget <= 1024 ? "low" : budget <= 8192 ? "medium" : "high";
                break;
            case "adaptive":
                if (root.TryGetProperty("output_config", out var config))
                {
                    // low | medium | high pass; xhigh and max have no OpenAI value above high.
                    effort = ChatMapping.GetString(config, "effort") switch
                    {
                        "low" => "low",
                        "medium" => "medium",
                        "high" or "xhigh" or "max" => "high",
                        _ => null,
                    };
                }

                break;
            default:
                // disabled (or unknown): omit, the upstream's default applies.
                break;
        }

        if (effort is not null)
        {
            w.WriteString("reasoning_effort"u8, effort);
        }
    }

    /// <summary>output_config.format (or the legacy output_format) json_schema → response_format.</summary>
    private static void WriteResponseFormat(Utf8JsonWriter w, JsonElement root)
    {
        JsonElement format = default;
        var found = (root.TryGetProperty("output_config", out var config) && config.ValueKind == JsonValueKind.Object && config.TryGetProperty("format", out format))
            || root.TryGetProperty("output_format", out format);
        if (!found || ChatMapping.GetString(format, "type") != "json_schema"
            || !format.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        w.WriteStartObject("response_format"u8);
        w.WriteString("type"u8, "json_schema");
        w.WriteStartObject("json_schema"u8);
        w.WriteString("name"u8, ChatMapping.GetString(format, "name") ?? "response");
        w.WritePropertyName("schema"u8);
        WriteSchema(w, schema);
        w.WriteBoolean("strict"u8, true);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>One OpenAI user content part, written once the whole message is known.</summary>
    private readonly record struct UserPart(string? Text, string? ImageUrl, string? FileName, string? FileData)
    {
        public static UserPart OfText(string text) => new(text, null, null, null);

        public static UserPart OfImage(string url) => new(null, url, null, null);

        public static UserPart OfFile(string fileName, string fileData) => new(null, null, fileName, fileData);

        public void WriteTo(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            if (Text is not null)
            {
                w.WriteString("type"u8, "text");
                w.WriteString("text"u8, Text);
            }
            else if (ImageUrl is not null)
            {
                w.WriteString("type"u8, "image_url");
                w.WriteStartObject("image_url"u8);
                w.WriteString("url"u8, ImageUrl);
                w.WriteEndObject();
            }
            else
            {
                w.WriteString("type"u8, "file");
                w.WriteStartObject("file"u8);
                w.WriteString("filename"u8, FileName);
                w.WriteString("file_data"u8, FileData);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }
    }

    /// <summary>
    /// A local estimate of a count_tokens request: UTF-8 bytes of the text in system, messages and tools,
    /// divided by 4, plus a flat 1,600 tokens per image or document; at least 1.
    /// </summary>
    public static long EstimateTokens(JsonElement root)
    {
        long bytes = 0;
        long media = 0;
        if (root.TryGetProperty("system", out var system))
        {
            CountContent(system, ref bytes, ref media);
        }

        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind == JsonValueKind.Object && message.TryGetProperty("content", out var content))
                {
                    CountContent(content, ref bytes, ref media);
                }
            }
        }

        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in tools.EnumerateArray())
            {
                bytes += Utf8Length(ChatMapping.GetString(tool, "name")) + Utf8Length(ChatMapping.GetString(tool, "description"));
                if (tool.ValueKind == JsonValueKind.Object && tool.TryGetProperty("input_schema", out var schema))
                {
                    bytes += Utf8Length(schema.GetRawText());
                }
            }
        }

        return Math.Max(1, ((bytes + 3) / 4) + (media * 1600));
    }

    private static void CountContent(JsonElement content, ref long bytes, ref long media)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                bytes += Utf8Length(content.GetString());
                return;
            case JsonValueKind.Array:
                foreach (var block in content.EnumerateArray())
                {
                    CountContent(block, ref bytes, ref media);
                }

                return;
            case JsonValueKind.Object:
                break;
            default:
                return;
        }

        switch (ChatMapping.GetString(content, "type"))
        {
            case "text":
                bytes += Utf8Length(ChatMapping.GetString(content, "text"));
                break;
            case "thinking":
                bytes += Utf8Length(ChatMapping.GetString(content, "thinking"));
                break;
            case "tool_use":
                bytes += Utf8Length(ChatMapping.GetString(content, "name"));
                if (content.TryGetProperty("input", out var input))
                {
                    bytes += Utf8Length(input.GetRawText());
                }

                break;
            case "tool_result" when content.TryGetProperty("content", out var inner):
                CountContent(inner, ref bytes, ref media);
                break;
            case "tool_reference":
                bytes += Utf8Length(ChatMapping.GetString(content, "tool_name"));
                break;
            case "image" or "document":
                media++;
                break;
            default:
                break;
        }
    }

    private static long Utf8Length(string? text) => text is null ? 0 : Encoding.UTF8.GetByteCount(text);
}
