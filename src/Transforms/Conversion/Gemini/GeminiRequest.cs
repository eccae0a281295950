using System.Buffers;
using System.Globalization;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// A Gemini <c>generateContent</c> request → the Chat Completions request that says the same, which
/// <see cref="ChatClient.ConvertRequest"/> then turns into Messages with all of its rules (as Responses and legacy
/// Completions do). <c>systemInstruction</c> becomes a system message; each content a message (<c>model</c> is the
/// assistant); <c>functionCall</c> parts assistant tool calls and <c>functionResponse</c> parts tool messages, paired
/// by <c>id</c> (or, for clients that send none, by name and order); <c>inlineData</c> images and PDFs, and
/// <c>fileData</c> images, media parts. Thought parts and <c>thoughtSignature</c>s are Gemini's own proof and are
/// dropped; so are <c>safetySettings</c> (only a gemini channel reads them) and tools other than function
/// declarations. What cannot be carried is refused with a 400 naming the field: <c>candidateCount</c> above 1,
/// <c>cachedContent</c>, files that are not images, executable code.
/// </summary>
internal static class GeminiRequest
{
    /// <summary>Converts, or says why not.</summary>
    /// <param name="body">The client's body.</param>
    /// <param name="stream">True when the client called <c>streamGenerateContent</c>.</param>
    public static GatewayResult<ConvertedRequest> ToChat(ReadOnlySpan<byte> body, bool stream) =>
        ConvertedRequest.Convert(body, (body.Length, stream), static (root, state) => ToChat(root, state.Length, state.stream));

    private static GatewayResult<ConvertedRequest> ToChat(JsonElement root, int bodyLength, bool stream)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return ConvertedRequest.Refused("the request body must be a JSON object");
        }

        if (GeminiWire.GetString(root, "cachedContent") is { Length: > 0 })
        {
            return ConvertedRequest.Refused("cachedContent: a Gemini context cache cannot be read by this model's provider; send the contents themselves");
        }

        var buffer = new ArrayBufferWriter<byte>(bodyLength + 256);
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteStartArray("messages"u8);
            if (GeminiWire.TryGet(root, "systemInstruction", out var system) && SystemText(system) is { Length: > 0 } instructions)
            {
                json.WriteStartObject();
                json.WriteString("role"u8, "system"u8);
                json.WriteString("content"u8, instructions);
                json.WriteEndObject();
            }

            if (WriteContents(json, root) is { } badContents)
            {
                return ConvertedRequest.Refused(badContents);
            }

            json.WriteEndArray();
            if ((WriteTools(json, root) ?? WriteToolConfig(json, root) ?? WriteGenerationConfig(json, root)) is { } badConfig)
            {
                return ConvertedRequest.Refused(badConfig);
            }

            if (stream)
            {
                json.WriteBoolean("stream"u8, true);
            }

            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, ToolNameMap.Identity);
    }

    private static string? SystemText(JsonElement system) => system.ValueKind switch
    {
        JsonValueKind.String => system.GetString(),
        JsonValueKind.Object when GeminiWire.TryGet(system, "parts", out var parts) && parts.ValueKind == JsonValueKind.Array =>
            string.Join("\n\n", parts.EnumerateArray().Select(p => GeminiWire.GetString(p, "text")).Where(t => !string.IsNullOrEmpty(t))),
        _ => null,
    };

    private static string? WriteContents(Utf8JsonWriter json, JsonElement root)
    {
        if (!GeminiWire.TryGet(root, "contents", out var contents) || contents.ValueKind != JsonValueKind.Array)
        {
            return "contents: field required (an array of contents)";
        }

        // Ids for calls sent without one, by name, so that the responses after them answer the same ids.
        var unanswered = new Dictionary<string, Queue<string>>(StringComparer.Ordinal);
        var i = 0;
        foreach (var content in contents.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"contents[{i}]");
            if (content.ValueKind != JsonValueKind.Object || !GeminiWire.TryGet(content, "parts", out var parts) || parts.ValueKind != JsonValueKind.Array)
            {
                return path + ".parts: field required (an array of parts)";
            }

            var role = GeminiWire.GetString(content, "role") ?? "user";
            var refusal = role switch
            {
                "model" => WriteModelTurn(json, parts, path, i, unanswered),
                "user" or "function" or "tool" => WriteUserTurn(json, parts, path, i, unanswered),
                _ => path + ".role: must be user or model",
            };
            if (refusal is not null)
            {
                return refusal;
            }

            i++;
        }

        return i == 0 ? "contents: must hold at least one content" : null;
    }

    private static string? WriteModelTurn(Utf8JsonWriter json, JsonElement parts, string path, int turn, Dictionary<string, Queue<string>> unanswered)
    {
        var text = new List<string>();
        var calls = new List<(string Id, string Name, string Arguments)>();
        var j = 0;
        foreach (var part in parts.EnumerateArray())
        {
            var partPath = string.Create(CultureInfo.InvariantCulture, $"{path}.parts[{j}]");
            if (part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True)
            {
                // Gemini's reasoning (and its signature): no other family takes it back.
            }
            else if (GeminiWire.TryGet(part, "functionCall", out var call))
            {
                if (GeminiWire.GetString(call, "name") is not { Length: > 0 } name)
                {
                    return partPath + ".functionCall.name: field required";
                }

                var id = GeminiWire.GetString(call, "id") is { Length: > 0 } given ? given : string.Create(CultureInfo.InvariantCulture, $"call_{turn}_{j}");
                if (GeminiWire.GetString(call, "id") is not { Length: > 0 })
                {
                    Queue(unanswered, name).Enqueue(id);
                }

                calls.Add((id, name, GeminiWire.TryGet(call, "args", out var args) && args.ValueKind == JsonValueKind.Object ? args.GetRawText() : "{}"));
            }
            else if (GeminiWire.GetString(part, "text") is { } value)
            {
                text.Add(value);
            }
            else if (Unsupported(part) is { } kind)
            {
                return $"{partPath}: a model turn's {kind} part cannot be sent to this model's provider";
            }

            j++;
        }

        if (text.Count == 0 && calls.Count == 0)
        {
            return null;
        }

        json.WriteStartObject();
        json.WriteString("role"u8, "assistant"u8);
        if (text.Count > 0)
        {
            json.WriteString("content"u8, string.Concat(text));
        }
        else
        {
            json.WriteNull("content"u8);
        }

        if (calls.Count > 0)
        {
            json.WriteStartArray("tool_calls"u8);
            foreach (var (id, name, arguments) in calls)
            {
                OpenAIWire.WriteToolCall(json, id, name, arguments);
            }

            json.WriteEndArray();
        }

        json.WriteEndObject();
        return null;
    }

    private static string? WriteUserTurn(Utf8JsonWriter json, JsonElement parts, string path, int turn, Dictionary<string, Queue<string>> unanswered)
    {
        // Function responses answer the calls before them: each a tool message, ahead of the turn's other parts.
        var j = 0;
        foreach (var part in parts.EnumerateArray())
        {
            if (GeminiWire.TryGet(part, "functionResponse", out var result))
            {
                var name = GeminiWire.GetString(result, "name") ?? string.Empty;
                var id = GeminiWire.GetString(result, "id") is { Length: > 0 } given
                    ? given
                    : unanswered.TryGetValue(name, out var pending) && pending.Count > 0 ? pending.Dequeue() : string.Create(CultureInfo.InvariantCulture, $"call_{turn}_{j}");
                json.WriteStartObject();
                json.WriteString("role"u8, "tool"u8);
                json.WriteString("tool_call_id"u8, id);
                json.WriteString("content"u8, ResultText(result));
                json.WriteEndObject();
            }

            j++;
        }

        var wrote = false;
        j = 0;
        foreach (var part in parts.EnumerateArray())
        {
            var partPath = string.Create(CultureInfo.InvariantCulture, $"{path}.parts[{j++}]");
            if (GeminiWire.TryGet(part, "functionResponse", out _) || (part.TryGetProperty("thought", out var thought) && thought.ValueKind == JsonValueKind.True))
            {
                continue;
            }

            if (!wrote)
            {
                json.WriteStartObject();
                json.WriteString("role"u8, "user"u8);
                json.WriteStartArray("content"u8);
                wrote = true;
            }

            if (WritePart(json, part, partPath) is { } refusal)
            {
                return refusal;
            }
        }

        if (wrote)
        {
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return null;
    }

    // A function's response: its "output" when that is all it holds (the Gemini CLI's shape), else the whole object as
    // JSON, so an {"error": …} reaches the model as what it is.
    private static string ResultText(JsonElement result)
    {
        if (!GeminiWire.TryGet(result, "response", out var response))
        {
            return string.Empty;
        }

        if (response.ValueKind == JsonValueKind.Object)
        {
            var fields = response.EnumerateObject().ToList();
            if (fields is [{ Name: "output" or "content" or "result", Value.ValueKind: JsonValueKind.String } only])
            {
                return only.Value.GetString()!;
            }
        }

        return response.ValueKind == JsonValueKind.String ? response.GetString()! : response.GetRawText();
    }

    private static string? WritePart(Utf8JsonWriter json, JsonElement part, string path)
    {
        if (GeminiWire.GetString(part, "text") is { } text)
        {
            json.WriteStartObject();
            json.WriteString("type"u8, "text"u8);
            json.WriteString("text"u8, text);
            json.WriteEndObject();
            return null;
        }

        if (GeminiWire.TryGet(part, "inlineData", out var inline))
        {
            var mime = GeminiWire.GetString(inline, "mimeType") ?? string.Empty;
            var data = GeminiWire.GetString(inline, "data") ?? string.Empty;
            if (mime.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
            {
                WriteImage(json, $"data:{mime};base64,{data}");
                return null;
            }

            if (mime.Equals("application/pdf", StringComparison.OrdinalIgnoreCase))
            {
                json.WriteStartObject();
                json.WriteString("type"u8, "file"u8);
                json.WriteStartObject("file"u8);
                json.WriteString("file_data"u8, $"data:{mime};base64,{data}");
                json.WriteEndObject();
                json.WriteEndObject();
                return null;
            }

            return $"{path}.inlineData.mimeType: '{mime}' cannot be sent to this model's provider (images and application/pdf can)";
        }

        if (GeminiWire.TryGet(part, "fileData", out var file))
        {
            var mime = GeminiWire.GetString(file, "mimeType") ?? string.Empty;
            var uri = GeminiWire.GetString(file, "fileUri") ?? string.Empty;
            if (mime.StartsWith("image/", StringComparison.OrdinalIgnoreCase) && uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
                && !uri.StartsWith("https://generativelanguage.googleapis.com/", StringComparison.OrdinalIgnoreCase))
            {
                WriteImage(json, uri);
                return null;
            }

            return path + ".fileData: only images at a public https URL can be sent to this model's provider (Gemini Files API uploads cannot)";
        }

        return Unsupported(part) is { } kind
            ? $"{path}: a {kind} part cannot be sent to this model's provider"
            : path + ": a part needs text, inlineData, fileData, functionCall or functionResponse";
    }

    private static string? Unsupported(JsonElement part)
    {
        foreach (var kind in (ReadOnlySpan<string>)["executableCode", "codeExecutionResult", "videoMetadata", "inlineData", "fileData"])
        {
            if (GeminiWire.TryGet(part, kind, out _))
            {
                return kind;
            }
        }

        return null;
    }

    private static void WriteImage(Utf8JsonWriter json, string url)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "image_url"u8);
        json.WriteStartObject("image_url"u8);
        json.WriteString("url"u8, url);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    // Function declarations only. Google's own tools (googleSearch, codeExecution, urlContext, …) are dropped, not
    // refused: a tool is an offer to the model, and another family's model cannot run Google's tools.
    private static string? WriteTools(Utf8JsonWriter json, JsonElement root)
    {
        if (!GeminiWire.TryGet(root, "tools", out var tools) || tools.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var declarations = new List<(JsonElement Declaration, string Path)>();
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            if (GeminiWire.TryGet(tool, "functionDeclarations", out var functions) && functions.ValueKind == JsonValueKind.Array)
            {
                var j = 0;
                foreach (var function in functions.EnumerateArray())
                {
                    declarations.Add((function, string.Create(CultureInfo.InvariantCulture, $"tools[{i}].functionDeclarations[{j++}]")));
                }
            }

            i++;
        }

        if (declarations.Count == 0)
        {
            return null;
        }

        json.WriteStartArray("tools"u8);
        foreach (var (declaration, path) in declarations)
        {
            if (GeminiWire.GetString(declaration, "name") is not { Length: > 0 } name)
            {
                return path + ".name: field required";
            }

            json.WriteStartObject();
            json.WriteString("type"u8, "function"u8);
            json.WriteStartObject("function"u8);
            json.WriteString("name"u8, name);
            if (GeminiWire.GetString(declaration, "description") is { } description)
            {
                json.WriteString("description"u8, description);
            }

            // parametersJsonSchema is JSON Schema already; parameters is Google's OpenAPI subset (types in capitals).
            if (GeminiWire.TryGet(declaration, "parametersJsonSchema", out var schema) && schema.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("parameters"u8);
                schema.WriteTo(json);
            }
            else if (GeminiWire.TryGet(declaration, "parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("parameters"u8);
                GeminiSchema.WriteAsJsonSchema(json, parameters);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        return null;
    }

    private static string? WriteToolConfig(Utf8JsonWriter json, JsonElement root)
    {
        if (!GeminiWire.TryGet(root, "toolConfig", out var config) || !GeminiWire.TryGet(config, "functionCallingConfig", out var calling))
        {
            return null;
        }

        var allowed = GeminiWire.TryGet(calling, "allowedFunctionNames", out var names) && names.ValueKind == JsonValueKind.Array
            ? names.EnumerateArray().Where(n => n.ValueKind == JsonValueKind.String).Select(n => n.GetString()!).ToList()
            : [];
        switch (GeminiWire.GetString(calling, "mode"))
        {
            case "ANY" when allowed.Count == 1:
                json.WriteStartObject("tool_choice"u8);
                json.WriteString("type"u8, "function"u8);
                json.WriteStartObject("function"u8);
                json.WriteString("name"u8, allowed[0]);
                json.WriteEndObject();
                json.WriteEndObject();
                return null;
            case "ANY":
                json.WriteString("tool_choice"u8, "required"u8);
                return null;
            case "NONE":
                json.WriteString("tool_choice"u8, "none"u8);
                return null;
            case null or "AUTO" or "VALIDATED" or "MODE_UNSPECIFIED":
                return null;
            case var other:
                return $"toolConfig.functionCallingConfig.mode: '{other}' is not one of AUTO, ANY, NONE, VALIDATED";
        }
    }

    private static string? WriteGenerationConfig(Utf8JsonWriter json, JsonElement root)
    {
        if (!GeminiWire.TryGet(root, "generationConfig", out var config) || config.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        if (GeminiWire.TryGet(config, "candidateCount", out var count) && GeminiWire.Number(count) > 1)
        {
            return "generationConfig.candidateCount: only 1 candidate can be generated through this gateway";
        }

        if ((CopyNumber(json, config, "maxOutputTokens", "max_completion_tokens"u8)
            ?? CopyNumber(json, config, "temperature", "temperature"u8)
            ?? CopyNumber(json, config, "topP", "top_p"u8)) is { } badNumber)
        {
            return badNumber;
        }
        if (GeminiWire.TryGet(config, "stopSequences", out var stops) && stops.ValueKind == JsonValueKind.Array && stops.GetArrayLength() > 0)
        {
            json.WritePropertyName("stop"u8);
            stops.WriteTo(json);
        }

        if (GeminiWire.TryGet(config, "thinkingConfig", out var thinking))
        {
            if (Effort(thinking, out var effort) is { } badLevel)
            {
                return badLevel;
            }

            if (effort is not null)
            {
                json.WriteString("reasoning_effort"u8, effort);
            }
        }

        var mime = GeminiWire.GetString(config, "responseMimeType");
        var hasSchema = GeminiWire.TryGet(config, "responseJsonSchema", out var jsonSchema) && jsonSchema.ValueKind == JsonValueKind.Object;
        var hasOpenApiSchema = GeminiWire.TryGet(config, "responseSchema", out var openApiSchema) && openApiSchema.ValueKind == JsonValueKind.Object;
        if (hasSchema || hasOpenApiSchema)
        {
            json.WriteStartObject("response_format"u8);
            json.WriteString("type"u8, "json_schema"u8);
            json.WriteStartObject("json_schema"u8);
            json.WriteString("name"u8, "response"u8);
            json.WritePropertyName("schema"u8);
            if (hasSchema)
            {
                jsonSchema.WriteTo(json);
            }
            else
            {
                GeminiSchema.WriteAsJsonSchema(json, openApiSchema);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }
        else if (string.Equals(mime, "application/json", StringComparison.OrdinalIgnoreCase))
        {
            json.WriteStartObject("response_format"u8);
            json.WriteString("type"u8, "json_object"u8);
            json.WriteEndObject();
        }

        return null;
    }

    // thinkingBudget 0 turns thinking off, -1 lets the model choose (medium); thinkingLevel names the effort itself.
    // The effort, or null when none is asked for; the refusal for a level Gemini does not know.
    private static string? Effort(JsonElement thinking, out string? effort)
    {
        effort = null;
        if (GeminiWire.GetString(thinking, "thinkingLevel") is { } level)
        {
            (effort, var known) = level.ToUpperInvariant() switch
            {
                "MINIMAL" or "LOW" => ("low", true),
                "MEDIUM" => ("medium", true),
                "HIGH" => ("high", true),
                "THINKING_LEVEL_UNSPECIFIED" => (null, true),
                _ => ((string?)null, false),
            };
            return known ? null : $"generationConfig.thinkingConfig.thinkingLevel: '{level}' is not one of MINIMAL, LOW, MEDIUM, HIGH";
        }

        if (!GeminiWire.TryGet(thinking, "thinkingBudget", out var budgetElement) || GeminiWire.Number(budgetElement) is not { } budget)
        {
            return null;
        }

        effort = budget switch
        {
            0 => "none",
            < 0 => "medium",
            <= 1024 => "low",
            <= 8192 => "medium",
            _ => "high",
        };
        return null;
    }

    // A number of generationConfig (a numeric string too, as Google's JSON mapping allows), written as a JSON number: a
    // whole one as an integer ("maxOutputTokens": 1000.0 is 1000), which is what the Chat rules take for a token count.
    private static string? CopyNumber(Utf8JsonWriter json, JsonElement config, string from, ReadOnlySpan<byte> to)
    {
        if (!GeminiWire.TryGet(config, from, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (GeminiWire.Number(value) is not { } number)
        {
            return $"generationConfig.{from}: must be a number";
        }

        if (number == Math.Floor(number) && Math.Abs(number) < 9e18)
        {
            json.WriteNumber(to, (long)number);
        }
        else
        {
            json.WriteNumber(to, number);
        }

        return null;
    }

    private static Queue<string> Queue(Dictionary<string, Queue<string>> pending, string name)
    {
        if (!pending.TryGetValue(name, out var queue))
        {
            pending[name] = queue = new Queue<string>();
        }

        return queue;
    }
}
