using System.Buffers;
using System.Globalization;
using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// OpenAI Chat Completions request → Anthropic Messages request (docs/protocols.md §3.1). The decisions that the
/// spec leaves open are documented on <see cref="ChatClient.ConvertRequest"/>.
/// </summary>
/// <remarks>
/// The request is read into turns and blocks first, then written. A method that can refuse the request returns
/// the refusal (the message for the caller's 400) and null when all is well, and hands what it read back through
/// <c>out</c> parameters, as <see cref="ChatRequestBuilder"/> does in the other direction.
/// </remarks>
internal sealed class ChatRequestConverter
{
    /// <summary>Anthropic requires max_tokens; used when the client sent none.</summary>
    public const int DefaultMaxTokens = 4096;

    /// <summary>Anthropic's smallest thinking budget.</summary>
    public const int MinThinkingBudget = 1024;

    /// <summary>The user turn inserted when a conversation starts with the assistant (new-api does the same).</summary>
    public const string LeadingUserText = "...";

    /// <summary>Appended to the system prompt for <c>response_format: {type: "json_object"}</c>.</summary>
    public const string JsonObjectInstruction = "Respond with a single valid JSON object and nothing else.";

    private readonly ConversionOptions _options;
    private readonly ChatFieldNames _names;
    private readonly List<Block> _system = [];
    private readonly List<Turn> _turns = [];

    // Legacy function_call turns have no ids: each gets one, and the next "function" message answers it.
    private readonly Queue<string> _pendingLegacyCalls = new();
    private int _legacyCallCount;

    private ChatRequestConverter(ConversionOptions options, ChatFieldNames names)
    {
        _options = options;
        _names = names;
    }

    /// <summary>The Chat request as Messages, or the 400 that says why not, naming the fields as <paramref name="names"/> says.</summary>
    public static GatewayResult<ConvertedRequest> Convert(ReadOnlySpan<byte> body, ConversionOptions options, ChatFieldNames? names = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return ConvertedRequest.Convert(body, new ChatRequestConverter(options, names ?? ChatFieldNames.Chat), static (root, converter) => converter.Build(root));
    }

    private GatewayResult<ConvertedRequest> Build(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return ConvertedRequest.Refused("the request body must be a JSON object");
        }

        if (OpenAIWire.TryGetLong(root, "n", out var n) && n > 1)
        {
            return ConvertedRequest.Refused("n > 1 is not supported: Anthropic returns one choice");
        }

        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            return ConvertedRequest.Refused("messages: field required (an array)");
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        if (ReadMessages(messages) is { } badMessage)
        {
            return ConvertedRequest.Refused(badMessage);
        }

        AddResponseFormatInstruction(root);

        // max_tokens (required by Anthropic) and thinking, which must fit under it; then the tools and the format.
        var refusal = NormaliseTurns(out var turns);
        long maxTokens = DefaultMaxTokens;
        ToolChoice toolChoice = default;
        var hasTools = false;
        long? thinkingBudget = null;
        var thinkingDisabled = false;
        List<Tool> tools = [];
        JsonElement outputSchema = default;
        refusal ??= ReadMaxTokens(root, out maxTokens);
        refusal ??= ReadToolChoice(root, out toolChoice, out hasTools);
        refusal ??= ReadThinkingBudget(root, out thinkingBudget, out thinkingDisabled);
        refusal ??= ReadTools(root, out tools);
        refusal ??= ReadOutputSchema(root, out outputSchema);
        if (refusal is not null)
        {
            return ConvertedRequest.Refused(refusal);
        }

        if (thinkingBudget is not null && (toolChoice.Forced || InToolLoop(turns)))
        {
            // Anthropic rejects forced tool use with thinking. The client's tool_choice is a hard constraint,
            // reasoning effort a preference: keep the tool choice, drop thinking. Inside a tool loop Anthropic
            // wants the assistant turn to start with a signed thinking block, which OpenAI clients never have
            // (docs/protocols.md §7): thinking is dropped there too.
            thinkingBudget = null;
        }

        if (thinkingBudget is { } wanted && maxTokens <= wanted)
        {
            // budget_tokens must be below max_tokens; max_tokens counts thinking, so give the answer its own room.
            maxTokens = wanted + maxTokens;
        }

        if (_options.MaxTokensLimit is { } limit && maxTokens > limit)
        {
            maxTokens = Math.Max(1, limit);
        }

        if (thinkingBudget is { } budget && budget >= maxTokens)
        {
            thinkingBudget = maxTokens - 1 >= MinThinkingBudget ? maxTokens - 1 : null;
        }

        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, _options.UpstreamModel);
            json.WriteNumber("max_tokens"u8, maxTokens);
            if (_system.Count > 0)
            {
                json.WriteStartArray("system"u8);
                foreach (var block in _system)
                {
                    block.Write(json);
                }

                json.WriteEndArray();
            }

            json.WriteStartArray("messages"u8);
            foreach (var turn in turns)
            {
                turn.Write(json);
            }

            json.WriteEndArray();
            WriteStop(root, json);
            if (thinkingBudget is null)
            {
                WriteSampling(root, json);
            }

            if (hasTools)
            {
                WriteTools(json, tools);
                toolChoice.Write?.Invoke(json);
            }

            if (thinkingBudget is { } b)
            {
                json.WriteStartObject("thinking"u8);
                json.WriteString("type"u8, "enabled"u8);
                json.WriteNumber("budget_tokens"u8, b);
                json.WriteEndObject();
            }
            else if (thinkingDisabled)
            {
                json.WriteStartObject("thinking"u8);
                json.WriteString("type"u8, "disabled"u8);
                json.WriteEndObject();
            }

            var user = OpenAIWire.GetString(root, "user") ?? OpenAIWire.GetString(root, "safety_identifier");
            if (!string.IsNullOrEmpty(user))
            {
                json.WriteStartObject("metadata"u8);
                json.WriteString("user_id"u8, user);
                json.WriteEndObject();
            }

            WriteOutputFormat(json, outputSchema);
            if (stream)
            {
                json.WriteBoolean("stream"u8, true);
            }

            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, ToolNameMap.Identity);
    }

    // ---- messages -------------------------------------------------------------------------------------

    private string? ReadMessages(JsonElement messages)
    {
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"messages[{i++}]");
            if (ReadMessage(message, path) is { } refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    private string? ReadMessage(JsonElement message, string path)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            return path + ": must be an object";
        }

        var role = OpenAIWire.GetString(message, "role");
        message.TryGetProperty("content", out var content);
        switch (role)
        {
            case null:
                return path + ".role: field required";
            case "system" or "developer":
                // Hoisted into Anthropic's system, in order (Anthropic's own compatibility layer does the same).
                return AddTextContent(_system, content, path);
            case "user":
                var user = new Turn("user");
                _turns.Add(user);
                return AddUserContent(user.Blocks, content, path, allowFiles: true);
            case "assistant":
                return ReadAssistant(message, content, path);
            case "tool":
                var toolCallId = OpenAIWire.GetString(message, "tool_call_id");
                return string.IsNullOrEmpty(toolCallId)
                    ? path + ".tool_call_id: field required (the id of the tool call this answers)"
                    : AddToolResult(toolCallId, content, path);
            case "function":
                // Legacy: answers the oldest unanswered function_call.
                return _pendingLegacyCalls.TryDequeue(out var id)
                    ? AddToolResult(id, content, path)
                    : path + ": a \"function\" message must follow an assistant message with function_call";
            default:
                return $"{path}.role: unknown role '{role}'";
        }
    }

    private string? AddToolResult(string toolCallId, JsonElement content, string path)
    {
        var blocks = new List<Block>();
        var turn = new Turn("user");
        turn.ToolResults.Add(new ToolResultBlock(AnthropicToolId.Sanitize(toolCallId), blocks));
        _turns.Add(turn);
        return AddUserContent(blocks, content, path, allowFiles: false);
    }

    private string? ReadAssistant(JsonElement message, JsonElement content, string path)
    {
        var turn = new Turn("assistant");
        _turns.Add(turn);

        // reasoning_content is dropped: Anthropic accepts thinking only with its own signature, and no OpenAI
        // client has one (docs/protocols.md §3.1, §7).
        if (AddTextContent(turn.Blocks, content, path) is { } badContent)
        {
            return badContent;
        }

        if (message.TryGetProperty("tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            var j = 0;
            foreach (var call in toolCalls.EnumerateArray())
            {
                var callPath = string.Create(CultureInfo.InvariantCulture, $"{path}.tool_calls[{j++}]");
                var id = OpenAIWire.GetString(call, "id");
                if (string.IsNullOrEmpty(id))
                {
                    return callPath + ".id: field required";
                }

                var function = call.TryGetProperty("function", out var f) ? f : default;
                var name = OpenAIWire.GetString(function, "name");
                if (string.IsNullOrEmpty(name))
                {
                    return callPath + ".function.name: field required";
                }

                turn.Blocks.Add(new ToolUseBlock(AnthropicToolId.Sanitize(id), name, OpenAIWire.GetString(function, "arguments")));
            }
        }

        if (message.TryGetProperty("function_call", out var legacy) && legacy.ValueKind == JsonValueKind.Object)
        {
            var name = OpenAIWire.GetString(legacy, "name");
            if (string.IsNullOrEmpty(name))
            {
                return path + ".function_call.name: field required";
            }

            var id = string.Create(CultureInfo.InvariantCulture, $"toolu_legacy_{_legacyCallCount++}");
            _pendingLegacyCalls.Enqueue(id);
            turn.Blocks.Add(new ToolUseBlock(id, name, OpenAIWire.GetString(legacy, "arguments")));
        }

        return null;
    }

    /// <summary>System, developer and assistant content: a string, or an array of text (and refusal) parts.</summary>
    private static string? AddTextContent(List<Block> blocks, JsonElement content, string path)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                AddText(blocks, content.GetString(), default);
                return null;
            case JsonValueKind.Array:
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    if (ReadPartType(part, string.Create(CultureInfo.InvariantCulture, $"{path}.content[{j++}]"), out var type) is { } refusal)
                    {
                        return refusal;
                    }

                    if (type == "text")
                    {
                        AddText(blocks, OpenAIWire.GetString(part, "text"), part.TryGetProperty("cache_control", out var cc) ? cc : default);
                    }
                    else if (type == "refusal")
                    {
                        AddText(blocks, OpenAIWire.GetString(part, "refusal"), default);
                    }
                }

                return null;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            default:
                return path + ".content: must be a string or an array of parts";
        }
    }

    /// <summary>A content part's type; a part that is not an object with a type is refused, never dropped.</summary>
    private static string? ReadPartType(JsonElement part, string path, out string type)
    {
        type = string.Empty;
        if (part.ValueKind != JsonValueKind.Object)
        {
            return path + ": must be a content part object";
        }

        var read = OpenAIWire.GetString(part, "type");
        type = read ?? string.Empty;
        return read is null ? path + ".type: field required" : null;
    }

    /// <summary>Never sends an empty text block: Anthropic rejects them (§8 #9).</summary>
    private static void AddText(List<Block> blocks, string? text, JsonElement cacheControl)
    {
        if (!string.IsNullOrEmpty(text))
        {
            blocks.Add(new TextBlock(text, cacheControl));
        }
    }

    /// <summary>User (and tool result) content: text, images (data: or http(s) URLs), PDF files.</summary>
    private static string? AddUserContent(List<Block> blocks, JsonElement content, string path, bool allowFiles)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                AddText(blocks, content.GetString(), default);
                return null;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            case JsonValueKind.Array:
                break;
            default:
                return path + ".content: must be a string or an array of parts";
        }

        var k = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = string.Create(CultureInfo.InvariantCulture, $"{path}.content[{k++}]");
            if ((ReadPartType(part, partPath, out var type) ?? AddUserPart(blocks, part, type, partPath, allowFiles)) is { } refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    private static string? AddUserPart(List<Block> blocks, JsonElement part, string type, string path, bool allowFiles)
    {
        Block? media;
        string? refusal;
        switch (type)
        {
            case "text":
                AddText(blocks, OpenAIWire.GetString(part, "text"), part.TryGetProperty("cache_control", out var cc) ? cc : default);
                return null;
            case "image_url":
                var imageUrl = part.TryGetProperty("image_url", out var iu) ? iu : default;
                var url = iu.ValueKind == JsonValueKind.String ? iu.GetString() : OpenAIWire.GetString(imageUrl, "url");
                refusal = ReadMedia(url, out media) is { } badUrl ? path + ".image_url.url: " + badUrl : null;
                break;
            case "file" when allowFiles:
                var file = part.TryGetProperty("file", out var fe) ? fe : default;
                var data = OpenAIWire.GetString(file, "file_data");
                if (data is null)
                {
                    return path + ".file: only inline file_data (a data: URL) is supported; file_id references are not";
                }

                refusal = ReadMedia(AsDataUrl(data), out media) is { } badData ? path + ".file.file_data: " + badData : null;
                break;
            case "file":
                return path + ": files are not supported in tool results";
            default:
                // input_audio has no Anthropic counterpart (dropped, as docs/protocols.md §3.1 says), nor do unknown parts.
                return null;
        }

        if (media is not null)
        {
            blocks.Add(media);
        }

        return refusal;
    }

    /// <summary>Why an image's URL cannot be sent (it must be http(s), or a base64 data: URL with a media type); null when it can.</summary>
    internal static string? ImageUrlProblem(string? url) => CheckMedia(url, out _, out _);

    /// <summary>Why a file's <c>file_data</c> cannot be sent (a base64 data: URL, or bare base64 read as a PDF); null when it can.</summary>
    internal static string? FileDataProblem(string data) => data.StartsWith("data:", StringComparison.Ordinal) ? CheckMedia(data, out _, out _) : null;

    private static string AsDataUrl(string fileData) =>
        fileData.StartsWith("data:", StringComparison.Ordinal) ? fileData : "data:application/pdf;base64," + fileData;

    /// <summary>A data: URL → base64 image (or PDF document); an http(s) URL → a url image source. Else why not (without a path).</summary>
    private static string? ReadMedia(string? url, out Block? block)
    {
        block = null;
        if (CheckMedia(url, out var dataStart, out var mediaType) is { } problem)
        {
            return problem;
        }

        block = mediaType is null
            ? new ImageUrlBlock(url!)
            : new Base64Block(mediaType == "application/pdf" ? "document" : "image", mediaType, url![dataStart..]);
        return null;
    }

    // Why url cannot be a media source, or null; for a data: URL, where its base64 starts and its media type (null for http(s)).
    private static string? CheckMedia(string? url, out int dataStart, out string? mediaType)
    {
        dataStart = 0;
        mediaType = null;
        if (string.IsNullOrEmpty(url))
        {
            return "field required";
        }

        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return "must be an http(s) URL or a data: URL";
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var header = comma < 0 ? string.Empty : url[5..comma];
        if (comma < 0 || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            return "a data: URL must be base64 (data:<media type>;base64,<data>)";
        }

        mediaType = header[..^";base64".Length].Split(';', 2)[0].Trim().ToLowerInvariant();
        if (mediaType.Length == 0)
        {
            return "the data: URL has no media type";
        }

        dataStart = comma + 1;
        return null;
    }

    /// <summary>
    /// Drops turns left empty, merges consecutive same-role turns (Anthropic requires alternation; parallel
    /// tool results become one user turn: §8 #7), strips a prefill's trailing whitespace, and makes the first
    /// turn a user turn.
    /// </summary>
    private string? NormaliseTurns(out List<Turn> merged)
    {
        merged = [];
        foreach (var turn in _turns)
        {
            if (turn.IsEmpty)
            {
                continue;
            }

            if (merged.Count > 0 && merged[^1].Role == turn.Role)
            {
                merged[^1].ToolResults.AddRange(turn.ToolResults);
                merged[^1].Blocks.AddRange(turn.Blocks);
            }
            else
            {
                merged.Add(turn);
            }
        }

        // A final assistant turn is a prefill: Anthropic rejects one that ends with whitespace (§8 #29).
        if (merged.Count > 0 && merged[^1].Role == "assistant" && merged[^1].Blocks[^1] is TextBlock prefill)
        {
            var last = merged[^1];
            var trimmed = prefill.Text.TrimEnd();
            if (trimmed.Length == 0)
            {
                last.Blocks.RemoveAt(last.Blocks.Count - 1);
                if (last.IsEmpty)
                {
                    merged.RemoveAt(merged.Count - 1);
                }
            }
            else
            {
                last.Blocks[^1] = prefill with { Text = trimmed };
            }
        }

        if (merged.Count == 0)
        {
            return _names.Conversation + ": at least one user or assistant message with content is required";
        }

        if (merged[0].Role != "user")
        {
            var first = new Turn("user");
            first.Blocks.Add(new TextBlock(LeadingUserText, default));
            merged.Insert(0, first);
        }

        return null;
    }

    /// <summary>True when the conversation ends with tool results answering an assistant turn's tool calls.</summary>
    private static bool InToolLoop(List<Turn> turns) =>
        turns.Count >= 2 && turns[^1].Role == "user" && turns[^1].ToolResults.Count > 0
        && turns[^2].Blocks.Exists(b => b is ToolUseBlock);

    private void AddResponseFormatInstruction(JsonElement root)
    {
        if (root.TryGetProperty("response_format", out var format) && OpenAIWire.GetString(format, "type") == "json_object")
        {
            _system.Add(new TextBlock(JsonObjectInstruction, default));
        }
    }

    // ---- parameters -----------------------------------------------------------------------------------

    private string? ReadMaxTokens(JsonElement root, out long maxTokens)
    {
        maxTokens = DefaultMaxTokens;
        foreach (var name in (ReadOnlySpan<string>)["max_completion_tokens", "max_tokens"])
        {
            if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out maxTokens) && maxTokens >= 1
                    ? null
                    : (_names.MaxTokens ?? name) + ": must be a positive integer";
            }
        }

        return null;
    }

    /// <summary>reasoning_effort → a thinking budget; null when thinking is not asked for.</summary>
    private string? ReadThinkingBudget(JsonElement root, out long? budget, out bool disabled)
    {
        disabled = false;
        budget = null;
        var effort = OpenAIWire.GetString(root, "reasoning_effort");
        if (effort is null && root.TryGetProperty("reasoning", out var reasoning))
        {
            effort = OpenAIWire.GetString(reasoning, "effort");
        }

        switch (effort)
        {
            case null:
                return null;
            case "none":
                disabled = true;
                return null;
            case "minimal" or "low":
                budget = 1024;
                return null;
            case "medium":
                budget = 4096;
                return null;
            case "high" or "xhigh" or "max":
                budget = 16384;
                return null;
            default:
                return $"{_names.ReasoningEffort}: unknown value '{effort}' (none, minimal, low, medium, high, xhigh, max)";
        }
    }

    private static void WriteStop(JsonElement root, Utf8JsonWriter json)
    {
        if (!root.TryGetProperty("stop", out var stop))
        {
            return;
        }

        var sequences = new List<string>();
        if (stop.ValueKind == JsonValueKind.String)
        {
            sequences.Add(stop.GetString()!);
        }
        else if (stop.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in stop.EnumerateArray())
            {
                if (item.ValueKind == JsonValueKind.String)
                {
                    sequences.Add(item.GetString()!);
                }
            }
        }

        // Anthropic: "all non-whitespace stop sequences work"; whitespace-only ones are rejected.
        sequences.RemoveAll(string.IsNullOrWhiteSpace);
        if (sequences.Count == 0)
        {
            return;
        }

        json.WriteStartArray("stop_sequences"u8);
        foreach (var sequence in sequences)
        {
            json.WriteStringValue(sequence);
        }

        json.WriteEndArray();
    }

    /// <summary>temperature clamped to Anthropic's [0, 1]; top_p only without temperature (§8 #25).</summary>
    private static void WriteSampling(JsonElement root, Utf8JsonWriter json)
    {
        if (root.TryGetProperty("temperature", out var temperature) && temperature.ValueKind == JsonValueKind.Number)
        {
            var value = temperature.GetDouble();
            if (value > 1)
            {
                json.WriteNumber("temperature"u8, 1);
            }
            else if (value < 0)
            {
                json.WriteNumber("temperature"u8, 0);
            }
            else
            {
                json.WritePropertyName("temperature"u8);
                json.WriteRawValue(temperature.GetRawText(), skipInputValidation: true);
            }
        }
        else if (root.TryGetProperty("top_p", out var topP) && topP.ValueKind == JsonValueKind.Number)
        {
            json.WritePropertyName("top_p"u8);
            json.WriteRawValue(topP.GetRawText(), skipInputValidation: true);
        }
    }

    /// <summary>A function tool as Anthropic takes it.</summary>
    private sealed record Tool(string Name, string? Description, JsonElement Parameters);

    /// <summary>tools (or legacy functions): function tools only; other tool types are refused.</summary>
    private static string? ReadTools(JsonElement root, out List<Tool> read)
    {
        read = [];
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                var path = string.Create(CultureInfo.InvariantCulture, $"tools[{i++}]");
                if (tool.ValueKind != JsonValueKind.Object)
                {
                    return path + ": must be a tool object";
                }

                var type = OpenAIWire.GetString(tool, "type") ?? "function";
                if (type != "function")
                {
                    return $"{path}.type: only function tools are supported (got '{type}')";
                }

                if (ReadTool(tool.TryGetProperty("function", out var f) ? f : default, path + ".function", read) is { } refusal)
                {
                    return refusal;
                }
            }
        }
        else if (root.TryGetProperty("functions", out var functions) && functions.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var function in functions.EnumerateArray())
            {
                var path = string.Create(CultureInfo.InvariantCulture, $"functions[{i++}]");
                if (function.ValueKind != JsonValueKind.Object)
                {
                    return path + ": must be a function object";
                }

                if (ReadTool(function, path, read) is { } refusal)
                {
                    return refusal;
                }
            }
        }

        return null;
    }

    private static string? ReadTool(JsonElement function, string path, List<Tool> read)
    {
        var name = OpenAIWire.GetString(function, "name");
        if (string.IsNullOrEmpty(name))
        {
            return path + ".name: field required";
        }

        read.Add(new Tool(name, OpenAIWire.GetString(function, "description"), function.TryGetProperty("parameters", out var parameters) ? parameters : default));
        return null;
    }

    private static void WriteTools(Utf8JsonWriter json, List<Tool> tools)
    {
        json.WriteStartArray("tools"u8);
        foreach (var tool in tools)
        {
            json.WriteStartObject();
            json.WriteString("name"u8, tool.Name);
            if (!string.IsNullOrEmpty(tool.Description))
            {
                json.WriteString("description"u8, tool.Description);
            }

            // parameters go over untouched (never merged with anything: §8 #31); strict has no counterpart.
            json.WritePropertyName("input_schema"u8);
            if (tool.Parameters.ValueKind == JsonValueKind.Object)
            {
                tool.Parameters.WriteTo(json);
            }
            else
            {
                json.WriteRawValue("""{"type":"object","properties":{}}"""u8, skipInputValidation: true);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private readonly record struct ToolChoice(bool Forced, Action<Utf8JsonWriter>? Write);

    /// <summary>tool_choice (or legacy function_call) and parallel_tool_calls → Anthropic's tool_choice.</summary>
    private static string? ReadToolChoice(JsonElement root, out ToolChoice toolChoice, out bool hasTools)
    {
        toolChoice = default;
        hasTools = (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            || (root.TryGetProperty("functions", out var functions) && functions.ValueKind == JsonValueKind.Array && functions.GetArrayLength() > 0);
        if (!hasTools)
        {
            // tool_choice without tools is a 400 upstream (§8 #30).
            return null;
        }

        var choice = root.TryGetProperty("tool_choice", out var tc) ? tc : root.TryGetProperty("function_call", out var fc) ? fc : default;
        string type;
        string? name = null;
        if (choice.ValueKind == JsonValueKind.String)
        {
            switch (choice.GetString())
            {
                case "auto":
                    type = "auto";
                    break;
                case "required":
                    type = "any";
                    break;
                case "none":
                    type = "none";
                    break;
                case var other:
                    return $"tool_choice: unknown value '{other}' (auto, required, none, or a function)";
            }
        }
        else if (choice.ValueKind == JsonValueKind.Object)
        {
            // {type:"function", function:{name}} or legacy function_call {name}.
            name = OpenAIWire.GetString(choice.TryGetProperty("function", out var f) ? f : choice, "name");
            if (string.IsNullOrEmpty(name))
            {
                return "tool_choice.function.name: field required";
            }

            type = "tool";
        }
        else
        {
            type = "auto";
        }

        var noParallel = root.TryGetProperty("parallel_tool_calls", out var p) && p.ValueKind == JsonValueKind.False;
        if (choice.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null && !noParallel)
        {
            return null;
        }

        toolChoice = new ToolChoice(type is "any" or "tool", json =>
        {
            json.WriteStartObject("tool_choice"u8);
            json.WriteString("type"u8, type);
            if (name is not null)
            {
                json.WriteString("name"u8, name);
            }

            // Anthropic's "none" choice has no disable_parallel_tool_use: nothing runs in parallel anyway.
            if (noParallel && type != "none")
            {
                json.WriteBoolean("disable_parallel_tool_use"u8, true);
            }

            json.WriteEndObject();
        });
        return null;
    }

    /// <summary><c>response_format: json_schema</c> → its schema; <c>default</c> for any other format.</summary>
    private static string? ReadOutputSchema(JsonElement root, out JsonElement schema)
    {
        schema = default;
        if (!root.TryGetProperty("response_format", out var format) || OpenAIWire.GetString(format, "type") != "json_schema")
        {
            return null;
        }

        return format.TryGetProperty("json_schema", out var jsonSchema) && jsonSchema.TryGetProperty("schema", out schema) && schema.ValueKind == JsonValueKind.Object
            ? null
            : "response_format.json_schema.schema: field required";
    }

    private static void WriteOutputFormat(Utf8JsonWriter json, JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        json.WriteStartObject("output_config"u8);
        json.WriteStartObject("format"u8);
        json.WriteString("type"u8, "json_schema"u8);
        json.WritePropertyName("schema"u8);
        schema.WriteTo(json);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    // ---- model ----------------------------------------------------------------------------------------

    /// <summary>One Anthropic content block, written once the turns are final.</summary>
    private abstract record Block
    {
        public abstract void Write(Utf8JsonWriter json);
    }

    /// <summary><c>{"type":"text"}</c>, with the client's cache_control when it sent one.</summary>
    private sealed record TextBlock(string Text, JsonElement CacheControl) : Block
    {
        public override void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "text"u8);
            json.WriteString("text"u8, Text);
            if (CacheControl.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("cache_control"u8);
                CacheControl.WriteTo(json);
            }

            json.WriteEndObject();
        }
    }

    /// <summary>An image by URL: <c>{"type":"image","source":{"type":"url","url":…}}</c>.</summary>
    private sealed record ImageUrlBlock(string Url) : Block
    {
        public override void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "image"u8);
            json.WriteStartObject("source"u8);
            json.WriteString("type"u8, "url"u8);
            json.WriteString("url"u8, Url);
            json.WriteEndObject();
            json.WriteEndObject();
        }
    }

    /// <summary>Inline data: an <c>image</c> or a PDF <c>document</c> with a base64 source.</summary>
    private sealed record Base64Block(string BlockType, string MediaType, string Data) : Block
    {
        public override void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, BlockType);
            json.WriteStartObject("source"u8);
            json.WriteString("type"u8, "base64"u8);
            json.WriteString("media_type"u8, MediaType);
            json.WriteString("data"u8, Data);
            json.WriteEndObject();
            json.WriteEndObject();
        }
    }

    /// <summary>A tool call: the OpenAI arguments string becomes the <c>input</c> object.</summary>
    private sealed record ToolUseBlock(string Id, string Name, string? Arguments) : Block
    {
        public override void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "tool_use"u8);
            json.WriteString("id"u8, Id);
            json.WriteString("name"u8, Name);
            json.WritePropertyName("input"u8);
            ToolArguments.WriteAsInput(json, Arguments);
            json.WriteEndObject();
        }
    }

    /// <summary>A tool's answer; its content is left out when there is none.</summary>
    private sealed record ToolResultBlock(string ToolUseId, List<Block> Content) : Block
    {
        public override void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "tool_result"u8);
            json.WriteString("tool_use_id"u8, ToolUseId);
            if (Content.Count > 0)
            {
                json.WriteStartArray("content"u8);
                foreach (var block in Content)
                {
                    block.Write(json);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }
    }

    /// <summary>One Anthropic turn: tool_result blocks always come first in a user turn (Anthropic requires it).</summary>
    private sealed class Turn(string role)
    {
        public string Role { get; } = role;

        public List<Block> ToolResults { get; } = [];

        public List<Block> Blocks { get; } = [];

        public bool IsEmpty => ToolResults.Count == 0 && Blocks.Count == 0;

        public void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            json.WriteString("role"u8, Role);
            json.WriteStartArray("content"u8);
            foreach (var block in ToolResults)
            {
                block.Write(json);
            }

            foreach (var block in Blocks)
            {
                block.Write(json);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }
    }
}
