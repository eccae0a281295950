using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>
/// What Google's Gemini API (<c>generateContent</c>, <c>streamGenerateContent?alt=sse</c>) sends, written by hand from
/// Google's documented shapes and captured streams (not produced by the gateway's converters, so it can catch them
/// out): <c>GenerateContentResponse</c> chunks framed with <c>\r\n\r\n</c> as Google frames them, the last carrying
/// <c>finishReason</c> and <c>usageMetadata</c>; function calls whole, with a <c>thoughtSignature</c> on the first.
/// </summary>
public static class FakeGemini
{
    /// <summary>One part of an answer: text, a thought, or a function call (with its signature, as Gemini 3 sends).</summary>
    public sealed record Part(string Kind, string Text, string? Name = null, string? Id = null, string? Signature = null)
    {
        public static Part Say(string text) => new("text", text);

        public static Part Thought(string text, string? signature = null) => new("thought", text, Signature: signature);

        public static Part Call(string name, string argsJson, string? id = null, string? signature = null) => new("functionCall", argsJson, name, id, signature);
    }

    /// <summary>The whole answer, <c>STOP</c> (or what <paramref name="finishReason"/> says).</summary>
    public static JsonObject Response(IReadOnlyList<Part> parts, string finishReason = "STOP", int promptTokens = 30, int outputTokens = 8, int cachedTokens = 0,
        string modelVersion = "gemini-2.5-pro", string responseId = "gem-resp-1") => new()
    {
        ["candidates"] = new JsonArray(Candidate(parts.Select(PartJson), finishReason)),
        ["usageMetadata"] = Usage(promptTokens, outputTokens, cachedTokens),
        ["modelVersion"] = modelVersion,
        ["responseId"] = responseId,
    };

    /// <summary>
    /// The streamed answer: text in two pieces per text part, each other part whole, each in its own chunk; the last
    /// chunk carries the finish reason and usage. Framed as Google frames it: <c>data: …\r\n\r\n</c>.
    /// </summary>
    public static IEnumerable<StreamStep> Stream(IReadOnlyList<Part> parts, string finishReason = "STOP", int promptTokens = 30, int outputTokens = 8,
        int cachedTokens = 0, string responseId = "gem-resp-1")
    {
        var pieces = new List<JsonObject>();
        foreach (var part in parts)
        {
            if (part.Kind == "text" && part.Text.Length > 1)
            {
                var half = part.Text.Length / 2;
                if (char.IsHighSurrogate(part.Text[half - 1]))
                {
                    half++;
                }

                pieces.Add(PartJson(part with { Text = part.Text[..half], Signature = null }));
                pieces.Add(PartJson(part with { Text = part.Text[half..] }));
            }
            else
            {
                pieces.Add(PartJson(part));
            }
        }

        for (var i = 0; i < pieces.Count; i++)
        {
            var last = i == pieces.Count - 1;
            var chunk = new JsonObject
            {
                ["candidates"] = new JsonArray(Candidate([pieces[i]], last ? finishReason : null)),
                ["usageMetadata"] = last ? Usage(promptTokens, outputTokens, cachedTokens) : new JsonObject { ["promptTokenCount"] = promptTokens, ["totalTokenCount"] = promptTokens },
                ["modelVersion"] = "gemini-2.5-pro",
                ["responseId"] = responseId,
            };
            yield return Chunk(chunk);
        }
    }

    // Google writes base64 signatures with '+' and '/' as they are, not as \u002B.
    private static readonly System.Text.Json.JsonSerializerOptions s_asGoogleWrites = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>One chunk as Google frames and spaces it: <c>data: {"candidates": [{"content": {"parts": [{"text": "…"}],…</c> and <c>\r\n\r\n</c>.</summary>
    public static StreamStep Chunk(JsonNode chunk) => StreamStep.Raw($"data: {GoogleSpacing(chunk.ToJsonString(s_asGoogleWrites))}\r\n\r\n");

    // Google's JSON has a space after every colon (and none after commas); strings are left as they are.
    private static string GoogleSpacing(string compact)
    {
        var spaced = new System.Text.StringBuilder(compact.Length + compact.Length / 8);
        var inString = false;
        for (var i = 0; i < compact.Length; i++)
        {
            var c = compact[i];
            spaced.Append(c);
            if (inString && c == '\\')
            {
                spaced.Append(compact[++i]);
            }
            else if (c == '"')
            {
                inString = !inString;
            }
            else if (c == ':' && !inString)
            {
                spaced.Append(' ');
            }
        }

        return spaced.ToString();
    }

    /// <summary>Google's error shape, <c>{"error":{"code","message","status"}}</c>.</summary>
    public static JsonObject Error(int code, string message, string status) => new()
    {
        ["error"] = new JsonObject { ["code"] = code, ["message"] = message, ["status"] = status },
    };

    private static JsonObject Candidate(IEnumerable<JsonNode> parts, string? finishReason)
    {
        var candidate = new JsonObject
        {
            ["content"] = new JsonObject { ["parts"] = new JsonArray([.. parts]), ["role"] = "model" },
            ["index"] = 0,
        };
        if (finishReason is not null)
        {
            candidate["finishReason"] = finishReason;
        }

        return candidate;
    }

    private static JsonObject PartJson(Part part)
    {
        var json = part.Kind switch
        {
            "functionCall" => new JsonObject
            {
                ["functionCall"] = part.Id is null
                    ? new JsonObject { ["name"] = part.Name, ["args"] = JsonNode.Parse(part.Text) }
                    : new JsonObject { ["id"] = part.Id, ["name"] = part.Name, ["args"] = JsonNode.Parse(part.Text) },
            },
            "thought" => new JsonObject { ["text"] = part.Text, ["thought"] = true },
            _ => new JsonObject { ["text"] = part.Text },
        };
        if (part.Signature is not null)
        {
            json["thoughtSignature"] = part.Signature;
        }

        return json;
    }

    private static JsonObject Usage(int prompt, int output, int cached)
    {
        var usage = new JsonObject
        {
            ["promptTokenCount"] = prompt,
            ["candidatesTokenCount"] = output,
            ["totalTokenCount"] = prompt + output,
        };
        if (cached > 0)
        {
            usage["cachedContentTokenCount"] = cached;
        }

        return usage;
    }
}
