using System.Buffers;
using System.Globalization;
using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>A request the gateway refuses; the message is shown to the caller (400).</summary>
internal sealed class ConversionRefusedException(string message) : Exception(message);

/// <summary>
/// OpenAI Chat Completions request → Anthropic Messages request (docs/protocols.md §3.1). The decisions that the
/// spec leaves open are documented on <see cref="ChatClient.ConvertRequest"/>.
/// </summary>
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
    private readonly List<Block> _system = [];
    private readonly List<Turn> _turns = [];

    // Legacy function_call turns have no ids: each gets one, and the next "function" message answers it.
    private readonly Queue<string> _pendingLegacyCalls = new();
    private int _legacyCallCount;

    private ChatRequestConverter(ConversionOptions options) => _options = options;

    public static GatewayResult<ConvertedRequest> Convert(ReadOnlySpan<byte> body, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(body);
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            return ConvertedRequest.Refused("malformed JSON: " + (ex.Message.Split(" Path:", 2)[0]));
        }

        using (doc)
        {
            try
            {
                var converter = new ChatRequestConverter(options);
                var (bytes, stream) = converter.Build(doc.RootElement);
                return new ConvertedRequest(bytes, stream, ToolNameMap.Identity);
            }
            catch (ConversionRefusedException ex)
            {
                return ConvertedRequest.Refused(ex.Message);
            }
            catch (InvalidOperationException ex)
            {
                // A field of a JSON type the checks did not foresee: still the client's mistake.
                return ConvertedRequest.Refused($"a field has a value of the wrong type ({ex.Message})");
            }
        }
    }

    private (byte[] Body, bool Stream) Build(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Refuse("the request body must be a JSON object");
        }

        if (OpenAIWire.TryGetLong(root, "n", out var n) && n > 1)
        {
            throw Refuse("n > 1 is not supported: Anthropic returns one choice");
        }

        if (!root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
        {
            throw Refuse("messages: field required (an array)");
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        ReadMessages(messages);
        AddResponseFormatInstruction(root);
        var turns = NormaliseTurns();

        // max_tokens (required by Anthropic) and thinking, which must fit under it.
        var maxTokens = ReadMaxTokens(root);
        var toolChoice = ReadToolChoice(root, out var hasTools);
        var thinkingBudget = ReadThinkingBudget(root, out var thinkingDisabled);
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
                WriteTools(root, json);
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

            WriteOutputFormat(root, json);
            if (stream)
            {
                json.WriteBoolean("stream"u8, true);
            }

            json.WriteEndObject();
        }

        return (buffer.WrittenSpan.ToArray(), stream);
    }

    private static ConversionRefusedException Refuse(string message) => new(message);

    // ---- messages -------------------------------------------------------------------------------------

    private void ReadMessages(JsonElement messages)
    {
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"messages[{i++}]");
            if (message.ValueKind != JsonValueKind.Object)
            {
                throw Refuse(path + ": must be an object");
            }

            var role = OpenAIWire.GetString(message, "role") ?? throw Refuse(path + ".role: field required");
            message.TryGetProperty("content", out var content);
            switch (role)
            {
                case "system" or "developer":
                    // Hoisted into Anthropic's system, in order (Anthropic's own compatibility layer does the same).
                    AddTextContent(_system, content, path);
                    break;
                case "user":
                    var user = new Turn("user");
                    AddUserContent(user.Blocks, content, path, allowFiles: true);
                    _turns.Add(user);
                    break;
                case "assistant":
                    _turns.Add(ReadAssistant(message, content, path));
                    break;
                case "tool":
                    var toolCallId = OpenAIWire.GetString(message, "tool_call_id");
                    if (string.IsNullOrEmpty(toolCallId))
                    {
                        throw Refuse(path + ".tool_call_id: field required (the id of the tool call this answers)");
                    }

                    _turns.Add(ToolResultTurn(toolCallId, content, path));
                    break;
                case "function":
                    // Legacy: answers the oldest unanswered function_call.
                    var id = _pendingLegacyCalls.Count > 0 ? _pendingLegacyCalls.Dequeue() : null;
                    if (id is null)
                    {
                        throw Refuse(path + ": a \"function\" message must follow an assistant message with function_call");
                    }

                    _turns.Add(ToolResultTurn(id, content, path));
                    break;
                default:
                    throw Refuse($"{path}.role: unknown role '{role}'");
            }
        }
    }

    private Turn ToolResultTurn(string toolCallId, JsonElement content, string path)
    {
        var blocks = new List<Block>();
        AddUserContent(blocks, content, path, allowFiles: false);
        var turn = new Turn("user");
        turn.ToolResults.Add(Block.ToolResult(AnthropicToolId.Sanitize(toolCallId), blocks));
        return turn;
    }

    private Turn ReadAssistant(JsonElement message, JsonElement content, string path)
    {
        var turn = new Turn("assistant");

        // reasoning_content is dropped: Anthropic accepts thinking only with its own signature, and no OpenAI
        // client has one (docs/protocols.md §3.1, §7).
        AddTextContent(turn.Blocks, content, path);
        if (message.TryGetProperty("tool_calls", out var toolCalls) && toolCalls.ValueKind == JsonValueKind.Array)
        {
            var j = 0;
            foreach (var call in toolCalls.EnumerateArray())
            {
                var callPath = string.Create(CultureInfo.InvariantCulture, $"{path}.tool_calls[{j++}]");
                var id = OpenAIWire.GetString(call, "id");
                if (string.IsNullOrEmpty(id))
                {
                    throw Refuse(callPath + ".id: field required");
                }

                var function = call.TryGetProperty("function", out var f) ? f : default;
                var name = OpenAIWire.GetString(function, "name");
                if (string.IsNullOrEmpty(name))
                {
                    throw Refuse(callPath + ".function.name: field required");
                }

                turn.Blocks.Add(Block.ToolUse(AnthropicToolId.Sanitize(id), name, function));
            }
        }

        if (message.TryGetProperty("function_call", out var legacy) && legacy.ValueKind == JsonValueKind.Object)
        {
            var name = OpenAIWire.GetString(legacy, "name");
            if (string.IsNullOrEmpty(name))
            {
                throw Refuse(path + ".function_call.name: field required");
            }

            var id = string.Create(CultureInfo.InvariantCulture, $"toolu_legacy_{_legacyCallCount++}");
            _pendingLegacyCalls.Enqueue(id);
            turn.Blocks.Add(Block.ToolUse(id, name, legacy));
        }

        return turn;
    }

    /// <summary>System, developer and assistant content: a string, or an array of text (and refusal) parts.</summary>
    private static void AddTextContent(List<Block> blocks, JsonElement content, string path)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                AddText(blocks, content.GetString(), default);
                break;
            case JsonValueKind.Array:
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    var type = PartType(part, string.Create(CultureInfo.InvariantCulture, $"{path}.content[{j++}]"));
                    if (type == "text")
                    {
                        AddText(blocks, OpenAIWire.GetString(part, "text"), part.TryGetProperty("cache_control", out var cc) ? cc : default);
                    }
                    else if (type == "refusal")
                    {
                        AddText(blocks, OpenAIWire.GetString(part, "refusal"), default);
                    }
                }

                break;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                break;
            default:
                throw Refuse(path + ".content: must be a string or an array of parts");
        }
    }

    /// <summary>A content part's type; a part that is not an object with a type is refused, never dropped.</summary>
    private static string PartType(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw Refuse(path + ": must be a content part object");
        }

        return OpenAIWire.GetString(part, "type") ?? throw Refuse(path + ".type: field required");
    }

    /// <summary>Never sends an empty text block: Anthropic rejects them (§8 #9).</summary>
    private static void AddText(List<Block> blocks, string? text, JsonElement cacheControl)
    {
        if (!string.IsNullOrEmpty(text))
        {
            blocks.Add(Block.Text(text, cacheControl));
        }
    }

    /// <summary>User (and tool result) content: text, images (data: or http(s) URLs), PDF files.</summary>
    private static void AddUserContent(List<Block> blocks, JsonElement content, string path, bool allowFiles)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                AddText(blocks, content.GetString(), default);
                return;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return;
            case JsonValueKind.Array:
                break;
            default:
                throw Refuse(path + ".content: must be a string or an array of parts");
        }

        var k = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = string.Create(CultureInfo.InvariantCulture, $"{path}.content[{k++}]");
            switch (PartType(part, partPath))
            {
                case "text":
                    AddText(blocks, OpenAIWire.GetString(part, "text"), part.TryGetProperty("cache_control", out var cc) ? cc : default);
                    break;
                case "image_url":
                    var imageUrl = part.TryGetProperty("image_url", out var iu) ? iu : default;
                    var url = iu.ValueKind == JsonValueKind.String ? iu.GetString() : OpenAIWire.GetString(imageUrl, "url");
                    blocks.Add(MediaBlock(url, partPath + ".image_url.url"));
                    break;
                case "file" when allowFiles:
                    var file = part.TryGetProperty("file", out var fe) ? fe : default;
                    var data = OpenAIWire.GetString(file, "file_data");
                    if (data is null)
                    {
                        throw Refuse(partPath + ".file: only inline file_data (a data: URL) is supported; file_id references are not");
                    }

                    blocks.Add(MediaBlock(data.StartsWith("data:", StringComparison.Ordinal) ? data : "data:application/pdf;base64," + data, partPath + ".file.file_data"));
                    break;
                case "file":
                    throw Refuse(partPath + ": files are not supported in tool results");
                default:
                    // input_audio has no Anthropic counterpart (dropped, as docs/protocols.md §3.1 says), nor do unknown parts.
                    break;
            }
        }
    }

    /// <summary>A data: URL → base64 image (or PDF document); an http(s) URL → a url image source.</summary>
    private static Block MediaBlock(string? url, string path)
    {
        if (string.IsNullOrEmpty(url))
        {
            throw Refuse(path + ": field required");
        }

        if (url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            return Block.Media("image", "url", null, url);
        }

        if (!url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            throw Refuse(path + ": must be an http(s) URL or a data: URL");
        }

        var comma = url.IndexOf(',', StringComparison.Ordinal);
        var header = comma < 0 ? string.Empty : url[5..comma];
        if (comma < 0 || !header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            throw Refuse(path + ": a data: URL must be base64 (data:<media type>;base64,<data>)");
        }

        var mediaType = header[..^";base64".Length].Split(';', 2)[0].Trim().ToLowerInvariant();
        if (mediaType.Length == 0)
        {
            throw Refuse(path + ": the data: URL has no media type");
        }

        var kind = mediaType == "application/pdf" ? "document" : "image";
        return Block.Media(kind, "base64", mediaType, url[(comma + 1)..]);
    }

    /// <summary>
    /// Drops turns left empty, merges consecutive same-role turns (Anthropic requires alternation; parallel
    /// tool results become one user turn: §8 #7), strips a prefill's trailing whitespace, and makes the first
    /// turn a user turn.
    /// </summary>
    private List<Turn> NormaliseTurns()
    {
        var merged = new List<Turn>();
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
        if (merged.Count > 0 && merged[^1].Role == "assistant" && merged[^1].Blocks[^1].Kind == BlockKind.Text)
        {
            var last = merged[^1];
            var trimmed = last.Blocks[^1].TextValue!.TrimEnd();
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
                last.Blocks[^1] = Block.Text(trimmed, last.Blocks[^1].Element);
            }
        }

        if (merged.Count == 0)
        {
            throw Refuse("messages: at least one user or assistant message with content is required");
        }

        if (merged[0].Role != "user")
        {
            var first = new Turn("user");
            first.Blocks.Add(Block.Text(LeadingUserText, default));
            merged.Insert(0, first);
        }

        return merged;
    }

    /// <summary>True when the conversation ends with tool results answering an assistant turn's tool calls.</summary>
    private static bool InToolLoop(List<Turn> turns) =>
        turns.Count >= 2 && turns[^1].Role == "user" && turns[^1].ToolResults.Count > 0
        && turns[^2].Blocks.Exists(b => b.Kind == BlockKind.ToolUse);

    private void AddResponseFormatInstruction(JsonElement root)
    {
        if (root.TryGetProperty("response_format", out var format) && OpenAIWire.GetString(format, "type") == "json_object")
        {
            _system.Add(Block.Text(JsonObjectInstruction, default));
        }
    }

    // ---- parameters -----------------------------------------------------------------------------------

    private static long ReadMaxTokens(JsonElement root)
    {
        foreach (var name in (ReadOnlySpan<string>)["max_completion_tokens", "max_tokens"])
        {
            if (root.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n) || n < 1)
                {
                    throw Refuse(name + ": must be a positive integer");
                }

                return n;
            }
        }

        return DefaultMaxTokens;
    }

    /// <summary>reasoning_effort → a thinking budget; null when thinking is not asked for.</summary>
    private static long? ReadThinkingBudget(JsonElement root, out bool disabled)
    {
        disabled = false;
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
                return 1024;
            case "medium":
                return 4096;
            case "high" or "xhigh" or "max":
                return 16384;
            default:
                throw Refuse($"reasoning_effort: unknown value '{effort}' (none, minimal, low, medium, high)");
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

    private static void WriteTools(JsonElement root, Utf8JsonWriter json)
    {
        json.WriteStartArray("tools"u8);
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array)
        {
            var i = 0;
            foreach (var tool in tools.EnumerateArray())
            {
                var path = string.Create(CultureInfo.InvariantCulture, $"tools[{i++}]");
                if (tool.ValueKind != JsonValueKind.Object)
                {
                    throw Refuse(path + ": must be a tool object");
                }

                var type = OpenAIWire.GetString(tool, "type") ?? "function";
                if (type != "function")
                {
                    throw Refuse($"{path}.type: only function tools are supported (got '{type}')");
                }

                WriteTool(json, tool.TryGetProperty("function", out var f) ? f : default, path + ".function");
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
                    throw Refuse(path + ": must be a function object");
                }

                WriteTool(json, function, path);
            }
        }

        json.WriteEndArray();
    }

    private static void WriteTool(Utf8JsonWriter json, JsonElement function, string path)
    {
        var name = OpenAIWire.GetString(function, "name");
        if (string.IsNullOrEmpty(name))
        {
            throw Refuse(path + ".name: field required");
        }

        json.WriteStartObject();
        json.WriteString("name"u8, name);
        var description = OpenAIWire.GetString(function, "description");
        if (!string.IsNullOrEmpty(description))
        {
            json.WriteString("description"u8, description);
        }

        // parameters go over untouched (never merged with anything: §8 #31); strict has no counterpart.
        json.WritePropertyName("input_schema"u8);
        if (function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            parameters.WriteTo(json);
        }
        else
        {
            json.WriteRawValue("""{"type":"object","properties":{}}"""u8, skipInputValidation: true);
        }

        json.WriteEndObject();
    }

    private readonly record struct ToolChoice(bool Forced, Action<Utf8JsonWriter>? Write);

    /// <summary>tool_choice (or legacy function_call) and parallel_tool_calls → Anthropic's tool_choice.</summary>
    private static ToolChoice ReadToolChoice(JsonElement root, out bool hasTools)
    {
        hasTools = (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            || (root.TryGetProperty("functions", out var functions) && functions.ValueKind == JsonValueKind.Array && functions.GetArrayLength() > 0);
        if (!hasTools)
        {
            // tool_choice without tools is a 400 upstream (§8 #30).
            return default;
        }

        var choice = root.TryGetProperty("tool_choice", out var tc) ? tc : root.TryGetProperty("function_call", out var fc) ? fc : default;
        string type;
        string? name = null;
        if (choice.ValueKind == JsonValueKind.String)
        {
            type = choice.GetString() switch
            {
                "auto" => "auto",
                "required" => "any",
                "none" => "none",
                var other => throw Refuse($"tool_choice: unknown value '{other}' (auto, required, none, or a function)"),
            };
        }
        else if (choice.ValueKind == JsonValueKind.Object)
        {
            // {type:"function", function:{name}} or legacy function_call {name}.
            name = OpenAIWire.GetString(choice.TryGetProperty("function", out var f) ? f : choice, "name");
            if (string.IsNullOrEmpty(name))
            {
                throw Refuse("tool_choice.function.name: field required");
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
            return default;
        }

        return new ToolChoice(type is "any" or "tool", json =>
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
    }

    private static void WriteOutputFormat(JsonElement root, Utf8JsonWriter json)
    {
        if (!root.TryGetProperty("response_format", out var format) || OpenAIWire.GetString(format, "type") != "json_schema")
        {
            return;
        }

        if (!format.TryGetProperty("json_schema", out var jsonSchema) || !jsonSchema.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
        {
            throw Refuse("response_format.json_schema.schema: field required");
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

    private enum BlockKind
    {
        Text,
        Media,
        ToolUse,
        ToolResult,
    }

    /// <summary>One Anthropic content block, written once the turns are final.</summary>
    private sealed class Block
    {
        private Block(BlockKind kind) => Kind = kind;

        public BlockKind Kind { get; }

        public string? TextValue { get; private init; }

        /// <summary>Text: cache_control; tool_use: the OpenAI function object (name, arguments).</summary>
        public JsonElement Element { get; private init; }

        private string? _a;
        private string? _b;
        private string? _c;
        private string? _d;
        private List<Block>? _children;

        public static Block Text(string text, JsonElement cacheControl) => new(BlockKind.Text) { TextValue = text, Element = cacheControl };

        public static Block Media(string blockType, string sourceType, string? mediaType, string urlOrData) =>
            new(BlockKind.Media) { _a = blockType, _b = sourceType, _c = mediaType, _d = urlOrData };

        public static Block ToolUse(string id, string name, JsonElement function) =>
            new(BlockKind.ToolUse) { _a = id, _b = name, Element = function };

        public static Block ToolResult(string toolUseId, List<Block> content) =>
            new(BlockKind.ToolResult) { _a = toolUseId, _children = content };

        public void Write(Utf8JsonWriter json)
        {
            json.WriteStartObject();
            switch (Kind)
            {
                case BlockKind.Text:
                    json.WriteString("type"u8, "text"u8);
                    json.WriteString("text"u8, TextValue);
                    if (Element.ValueKind == JsonValueKind.Object)
                    {
                        json.WritePropertyName("cache_control"u8);
                        Element.WriteTo(json);
                    }

                    break;
                case BlockKind.Media:
                    json.WriteString("type"u8, _a);
                    json.WriteStartObject("source"u8);
                    json.WriteString("type"u8, _b);
                    if (_b == "url")
                    {
                        json.WriteString("url"u8, _d);
                    }
                    else
                    {
                        json.WriteString("media_type"u8, _c);
                        json.WriteString("data"u8, _d);
                    }

                    json.WriteEndObject();
                    break;
                case BlockKind.ToolUse:
                    json.WriteString("type"u8, "tool_use"u8);
                    json.WriteString("id"u8, _a);
                    json.WriteString("name"u8, _b);
                    json.WritePropertyName("input"u8);
                    WriteInput(json, OpenAIWire.GetString(Element, "arguments"));
                    break;
                case BlockKind.ToolResult:
                    json.WriteString("type"u8, "tool_result"u8);
                    json.WriteString("tool_use_id"u8, _a);
                    if (_children is { Count: > 0 })
                    {
                        json.WriteStartArray("content"u8);
                        foreach (var child in _children)
                        {
                            child.Write(json);
                        }

                        json.WriteEndArray();
                    }

                    break;
            }

            json.WriteEndObject();
        }

        /// <summary>
        /// Tool arguments → input. Empty → <c>{}</c>; a JSON object → as is; anything else (invalid JSON, a
        /// non-object) → <c>{"raw_arguments": "&lt;the string&gt;"}</c>: input must be an object, and dropping the
        /// call would orphan its tool_result (§8 #10), while <c>{}</c> would hide what the model really sent.
        /// </summary>
        private static void WriteInput(Utf8JsonWriter json, string? arguments)
        {
            if (string.IsNullOrWhiteSpace(arguments))
            {
                json.WriteStartObject();
                json.WriteEndObject();
                return;
            }

            try
            {
                using var parsed = JsonDocument.Parse(arguments);
                if (parsed.RootElement.ValueKind == JsonValueKind.Object)
                {
                    parsed.RootElement.WriteTo(json);
                    return;
                }
            }
            catch (JsonException)
            {
            }

            json.WriteStartObject();
            json.WriteString("raw_arguments"u8, arguments);
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
