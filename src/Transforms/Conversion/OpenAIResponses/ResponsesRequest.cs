using System.Buffers;
using System.Globalization;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// An OpenAI Responses request (<c>POST /v1/responses</c>) → the Chat Completions request that says the same, which
/// <see cref="ChatClient.ConvertRequest"/> then turns into Messages with all of its rules (as legacy Completions
/// does). Input items map one to one: messages keep their role (<c>developer</c> and <c>system</c> become system
/// text), <c>function_call</c> becomes an assistant tool call, <c>function_call_output</c> a tool message.
/// <c>reasoning</c> items are dropped: their <c>encrypted_content</c> is OpenAI's and no other family takes it.
/// Tools other than functions (OpenAI's hosted tools, Codex's namespaces) are dropped. What cannot be carried is
/// refused with a 400 naming the field: file ids, <c>item_reference</c>, background responses.
/// </summary>
internal static class ResponsesRequest
{
    /// <summary>
    /// Converts, or says why not. The host resolves a <c>previous_response_id</c> before conversion; one that reaches
    /// this converter (used on its own) names nothing it knows: 404.
    /// </summary>
    public static GatewayResult<ConvertedRequest> ToChat(ReadOnlySpan<byte> body) =>
        ConvertedRequest.Convert(body, body.Length, static (root, bodyLength) => ToChat(root, bodyLength));

    private static GatewayResult<ConvertedRequest> ToChat(JsonElement root, int bodyLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            return ConvertedRequest.Refused("the request body must be a JSON object");
        }

        if (OpenAIWire.GetString(root, "previous_response_id") is { Length: > 0 } previous)
        {
            return new GatewayError(404, $"Previous response with id '{previous}' not found.") { Code = "previous_response_not_found" };
        }

        if (root.TryGetProperty("background", out var background) && background.ValueKind == JsonValueKind.True)
        {
            return ConvertedRequest.Refused("background: background responses are not supported; send the request without it");
        }

        var buffer = new ArrayBufferWriter<byte>(bodyLength + 256);
        bool stream;
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            if (OpenAIWire.GetString(root, "model") is { } model)
            {
                json.WriteString("model"u8, model);
            }

            json.WriteStartArray("messages"u8);
            if (OpenAIWire.GetString(root, "instructions") is { Length: > 0 } instructions)
            {
                WriteMessage(json, "system", instructions);
            }

            if (WriteInput(json, root) is { } badInput)
            {
                return ConvertedRequest.Refused(badInput);
            }

            json.WriteEndArray();
            if ((WriteTools(json, root) ?? WriteToolChoice(json, root) ?? WriteFormat(json, root)) is { } badTools)
            {
                return ConvertedRequest.Refused(badTools);
            }

            if ((CopyNumber(json, root, "max_output_tokens", "max_completion_tokens"u8)
                ?? CopyNumber(json, root, "temperature", "temperature"u8)
                ?? CopyNumber(json, root, "top_p", "top_p"u8)) is { } badNumber)
            {
                return ConvertedRequest.Refused(badNumber);
            }

            if (root.TryGetProperty("parallel_tool_calls", out var parallel) && parallel.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                json.WriteBoolean("parallel_tool_calls"u8, parallel.ValueKind == JsonValueKind.True);
            }

            if (root.TryGetProperty("reasoning", out var reasoning) && OpenAIWire.GetString(reasoning, "effort") is { } effort)
            {
                json.WriteString("reasoning_effort"u8, effort);
            }

            if ((OpenAIWire.GetString(root, "safety_identifier") ?? OpenAIWire.GetString(root, "user")) is { Length: > 0 } user)
            {
                json.WriteString("user"u8, user);
            }

            stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            if (stream)
            {
                json.WriteBoolean("stream"u8, true);
            }

            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, ToolNameMap.Identity);
    }

    private static string? WriteInput(Utf8JsonWriter json, JsonElement root)
    {
        if (!root.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
        {
            return "input: field required (a string or an array of input items)";
        }

        if (input.ValueKind == JsonValueKind.String)
        {
            WriteMessage(json, "user", input.GetString()!);
            return null;
        }

        if (input.ValueKind != JsonValueKind.Array)
        {
            return "input: must be a string or an array of input items";
        }

        var i = 0;
        foreach (var item in input.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"input[{i++}]");
            if (WriteItem(json, item, path) is { } refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    private static string? WriteItem(Utf8JsonWriter json, JsonElement item, string path)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return path + ": must be an input item object";
        }

        // An "easy input message" ({role, content}) has no type.
        var type = OpenAIWire.GetString(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
        switch (type)
        {
            case "message":
                return WriteMessageItem(json, item, path);
            case "function_call":
                var callId = OpenAIWire.GetString(item, "call_id");
                var name = OpenAIWire.GetString(item, "name");
                if (string.IsNullOrEmpty(callId) || string.IsNullOrEmpty(name))
                {
                    return path + ": a function_call needs call_id and name";
                }

                json.WriteStartObject();
                json.WriteString("role"u8, "assistant"u8);
                json.WriteNull("content"u8);
                json.WriteStartArray("tool_calls"u8);
                OpenAIWire.WriteToolCall(json, callId, name, OpenAIWire.GetString(item, "arguments") ?? string.Empty);
                json.WriteEndArray();
                json.WriteEndObject();
                return null;
            case "function_call_output":
                var outputId = OpenAIWire.GetString(item, "call_id");
                if (string.IsNullOrEmpty(outputId))
                {
                    return path + ".call_id: field required (the call this output answers)";
                }

                json.WriteStartObject();
                json.WriteString("role"u8, "tool"u8);
                json.WriteString("tool_call_id"u8, outputId);
                item.TryGetProperty("output", out var output);
                return WriteContent(json, output, path + ".output", toolOutput: true);
            case "reasoning":
                // OpenAI's own reasoning (encrypted_content, summaries): no other family takes it back.
                return null;
            case "item_reference":
                return path + ": item_reference is not supported; send the items themselves, or previous_response_id";
            case null:
                return path + ".type: field required";
            default:
                return $"{path}.type: '{type}' is not supported (message, function_call, function_call_output, reasoning)";
        }
    }

    private static string? WriteMessageItem(Utf8JsonWriter json, JsonElement item, string path)
    {
        var role = OpenAIWire.GetString(item, "role");
        if (role is not ("user" or "assistant" or "system" or "developer"))
        {
            return path + ".role: must be user, assistant, system or developer";
        }

        json.WriteStartObject();
        json.WriteString("role"u8, role);
        item.TryGetProperty("content", out var content);
        return WriteContent(json, content, path + ".content");
    }

    // Writes "content" and ends the message object. A tool's output may hold text and images, not files (as in Chat).
    private static string? WriteContent(Utf8JsonWriter json, JsonElement content, string path, bool toolOutput = false)
    {
        json.WritePropertyName("content"u8);
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                json.WriteStringValue(content.GetString());
                json.WriteEndObject();
                return null;
            case JsonValueKind.Array:
                break;
            default:
                return path + ": must be a string or an array of content parts";
        }

        json.WriteStartArray();
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = string.Create(CultureInfo.InvariantCulture, $"{path}[{j++}]");
            if (WritePart(json, part, partPath, toolOutput) is { } refusal)
            {
                return refusal;
            }
        }

        json.WriteEndArray();
        json.WriteEndObject();
        return null;
    }

    private static string? WritePart(Utf8JsonWriter json, JsonElement part, string path, bool toolOutput)
    {
        switch (OpenAIWire.GetString(part, "type"))
        {
            case "input_text" or "output_text" or "text":
                json.WriteStartObject();
                json.WriteString("type"u8, "text"u8);
                json.WriteString("text"u8, OpenAIWire.GetString(part, "text") ?? string.Empty);
                json.WriteEndObject();
                return null;
            case "refusal":
                json.WriteStartObject();
                json.WriteString("type"u8, "refusal"u8);
                json.WriteString("refusal"u8, OpenAIWire.GetString(part, "refusal") ?? string.Empty);
                json.WriteEndObject();
                return null;
            case "input_image":
                if (OpenAIWire.GetString(part, "image_url") is not { Length: > 0 } url)
                {
                    return path + ": only image_url (an http(s) or data: URL) is supported; file_id references are not";
                }

                if (ChatRequestConverter.ImageUrlProblem(url) is { } badUrl)
                {
                    return path + ".image_url: " + badUrl;
                }

                json.WriteStartObject();
                json.WriteString("type"u8, "image_url"u8);
                json.WriteStartObject("image_url"u8);
                json.WriteString("url"u8, url);
                json.WriteEndObject();
                json.WriteEndObject();
                return null;
            case "input_file" when toolOutput:
                return path + ": files are not supported in a function_call_output (text and images are)";
            case "input_file":
                if (OpenAIWire.GetString(part, "file_data") is not { Length: > 0 } data)
                {
                    return path + ": only inline file_data is supported; file_id and file_url references are not";
                }

                if (ChatRequestConverter.FileDataProblem(data) is { } badData)
                {
                    return path + ".file_data: " + badData;
                }

                json.WriteStartObject();
                json.WriteString("type"u8, "file"u8);
                json.WriteStartObject("file"u8);
                json.WriteString("file_data"u8, data);
                if (OpenAIWire.GetString(part, "filename") is { } filename)
                {
                    json.WriteString("filename"u8, filename);
                }

                json.WriteEndObject();
                json.WriteEndObject();
                return null;
            case null:
                return path + ".type: field required";
            case var other:
                return $"{path}.type: '{other}' is not supported (input_text, input_image, input_file, output_text, refusal)";
        }
    }

    // Function tools only. The others are dropped, not refused: a tool is an offer to the model, and an upstream of
    // another family cannot run OpenAI's hosted tools (web_search, file_search, …) or call into a Codex namespace.
    private static string? WriteTools(Utf8JsonWriter json, JsonElement root)
    {
        if (!root.TryGetProperty("tools", out var tools) || tools.ValueKind != JsonValueKind.Array
            || !tools.EnumerateArray().Any(t => OpenAIWire.GetString(t, "type") == "function"))
        {
            return null;
        }

        json.WriteStartArray("tools"u8);
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = string.Create(CultureInfo.InvariantCulture, $"tools[{i++}]");
            if (OpenAIWire.GetString(tool, "type") != "function")
            {
                continue;
            }

            if (OpenAIWire.GetString(tool, "name") is not { Length: > 0 } name)
            {
                return path + ".name: field required";
            }

            json.WriteStartObject();
            json.WriteString("type"u8, "function"u8);
            json.WriteStartObject("function"u8);
            json.WriteString("name"u8, name);
            if (OpenAIWire.GetString(tool, "description") is { } description)
            {
                json.WriteString("description"u8, description);
            }

            if (tool.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
            {
                json.WritePropertyName("parameters"u8);
                parameters.WriteTo(json);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        return null;
    }

    private static string? WriteToolChoice(Utf8JsonWriter json, JsonElement root)
    {
        if (!root.TryGetProperty("tool_choice", out var choice) || choice.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (choice.ValueKind == JsonValueKind.String)
        {
            json.WriteString("tool_choice"u8, choice.GetString());
            return null;
        }

        if (OpenAIWire.GetString(choice, "type") != "function" || OpenAIWire.GetString(choice, "name") is not { Length: > 0 } name)
        {
            return "tool_choice: must be auto, required, none or {\"type\":\"function\",\"name\":…}";
        }

        json.WriteStartObject("tool_choice"u8);
        json.WriteString("type"u8, "function"u8);
        json.WriteStartObject("function"u8);
        json.WriteString("name"u8, name);
        json.WriteEndObject();
        json.WriteEndObject();
        return null;
    }

    // text.format → response_format.
    private static string? WriteFormat(Utf8JsonWriter json, JsonElement root)
    {
        if (!root.TryGetProperty("text", out var text) || !text.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        switch (OpenAIWire.GetString(format, "type"))
        {
            case "json_schema":
                if (!format.TryGetProperty("schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                {
                    return "text.format.schema: field required";
                }

                json.WriteStartObject("response_format"u8);
                json.WriteString("type"u8, "json_schema"u8);
                json.WriteStartObject("json_schema"u8);
                json.WriteString("name"u8, OpenAIWire.GetString(format, "name") ?? "response");
                json.WritePropertyName("schema"u8);
                schema.WriteTo(json);
                json.WriteEndObject();
                json.WriteEndObject();
                return null;
            case "json_object":
                json.WriteStartObject("response_format"u8);
                json.WriteString("type"u8, "json_object"u8);
                json.WriteEndObject();
                return null;
            default:
                return null;
        }
    }

    private static void WriteMessage(Utf8JsonWriter json, string role, string text)
    {
        json.WriteStartObject();
        json.WriteString("role"u8, role);
        json.WriteString("content"u8, text);
        json.WriteEndObject();
    }

    private static string? CopyNumber(Utf8JsonWriter json, JsonElement root, string from, ReadOnlySpan<byte> to)
    {
        if (!root.TryGetProperty(from, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number)
        {
            return from + ": must be a number";
        }

        json.WritePropertyName(to);
        value.WriteTo(json);
        return null;
    }
}
