using System.Buffers;
using System.Text.Json;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>
/// Legacy Completions request → Chat Completions request with one user message (docs/protocols.md §3.4). Fields
/// that need several upstream calls or per-token data are refused with a 400 rather than silently ignored:
/// the client asked for something it would not get.
/// </summary>
internal static class CompletionsRequest
{
    /// <summary>Converts; <paramref name="defaultMaxTokens"/> is written when the client sent no max_tokens.</summary>
    public static GatewayResult<ConvertedRequest> ToChat(ReadOnlySpan<byte> body, ConversionOptions options, long? defaultMaxTokens) =>
        ConvertedRequest.Convert(body, (options, defaultMaxTokens), static (root, state) => ToChat(root, state.options, state.defaultMaxTokens));

    private static GatewayResult<ConvertedRequest> ToChat(JsonElement root, ConversionOptions options, long? defaultMaxTokens)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (root.ValueKind != JsonValueKind.Object)
        {
            return ConvertedRequest.Refused("the request body must be a JSON object");
        }

        var refusal = Validate(root, out var prompt);
        if (refusal is not null)
        {
            return ConvertedRequest.Refused(refusal);
        }

        var stream = root.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
        var buffer = new ArrayBufferWriter<byte>(256 + prompt!.Length);
        using (var json = new Utf8JsonWriter(buffer, OpenAIWire.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, options.UpstreamModel);
            json.WriteStartArray("messages"u8);
            json.WriteStartObject();
            json.WriteString("role"u8, "user"u8);
            json.WriteString("content"u8, prompt);
            json.WriteEndObject();
            json.WriteEndArray();

            long? maxTokens = OpenAIWire.TryGetLong(root, "max_tokens", out var m) ? m : defaultMaxTokens;
            if (maxTokens is { } value)
            {
                if (options.MaxTokensLimit is { } limit && value > limit)
                {
                    value = limit;
                }

                json.WriteNumber(options.MaxTokensField, value);
            }

            // Copied as they are: same meaning in both APIs.
            foreach (var name in (ReadOnlySpan<string>)["temperature", "top_p", "stop", "user", "seed", "presence_penalty", "frequency_penalty", "logit_bias"])
            {
                if (root.TryGetProperty(name, out var field) && field.ValueKind != JsonValueKind.Null)
                {
                    json.WritePropertyName(name);
                    field.WriteTo(json);
                }
            }

            if (stream)
            {
                json.WriteBoolean("stream"u8, true);
                if (options.IncludeStreamUsage)
                {
                    // Always ask the upstream for usage (accounting needs it); the client's own
                    // stream_options decides whether it sees the usage chunk.
                    json.WriteStartObject("stream_options"u8);
                    json.WriteBoolean("include_usage"u8, true);
                    json.WriteEndObject();
                }
            }

            json.WriteEndObject();
        }

        return new ConvertedRequest(buffer.WrittenSpan.ToArray(), stream, ToolNameMap.Identity);
    }

    /// <summary>The refusal for the request, or null with the prompt text.</summary>
    private static string? Validate(JsonElement root, out string? prompt)
    {
        prompt = null;
        if (!root.TryGetProperty("prompt", out var p))
        {
            return "prompt: field required";
        }

        switch (p.ValueKind)
        {
            case JsonValueKind.String:
                prompt = p.GetString();
                break;
            case JsonValueKind.Array:
                var count = p.GetArrayLength();
                if (count > 0 && p[0].ValueKind is JsonValueKind.Number or JsonValueKind.Array)
                {
                    return "prompt as token ids is not supported: send text";
                }

                if (count != 1 || p[0].ValueKind != JsonValueKind.String)
                {
                    // Several prompts would mean several upstream calls with merged choices.
                    return "prompt: send one string (an array of several prompts is not supported)";
                }

                prompt = p[0].GetString();
                break;
            default:
                return "prompt: must be a string";
        }

        if (string.IsNullOrEmpty(prompt))
        {
            return "prompt: must not be empty";
        }

        if (OpenAIWire.TryGetLong(root, "n", out var n) && n > 1)
        {
            return "n > 1 is not supported: the upstream returns one choice";
        }

        if (OpenAIWire.TryGetLong(root, "best_of", out var bestOf) && bestOf > 1)
        {
            return "best_of > 1 is not supported: the upstream returns one choice";
        }

        if (root.TryGetProperty("echo", out var echo) && echo.ValueKind == JsonValueKind.True)
        {
            return "echo is not supported: the upstream is a chat model";
        }

        if (root.TryGetProperty("suffix", out var suffix) && suffix.ValueKind == JsonValueKind.String && suffix.GetString()!.Length > 0)
        {
            return "suffix is not supported: the upstream is a chat model (no fill-in-the-middle)";
        }

        // logprobs is an integer here (0–5); even 0 asks for the sampled token's log probability (§8 #35).
        if (root.TryGetProperty("logprobs", out var logprobs) && logprobs.ValueKind is not (JsonValueKind.Null or JsonValueKind.False))
        {
            return "logprobs is not supported: the upstream does not return token log probabilities";
        }

        return null;
    }
}
