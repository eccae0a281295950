using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;

namespace CcxProxy.Bench.Conversion;

/// <summary>The protocol an upstream stream is in.</summary>
internal enum UpstreamProtocol
{
    /// <summary>OpenAI Chat Completions chunks: data-only frames ending with <c>data: [DONE]</c>.</summary>
    OpenAI,

    /// <summary>Anthropic Messages events: named frames ending with <c>message_stop</c>.</summary>
    Anthropic,

    /// <summary>Gemini <c>GenerateContentResponse</c> chunks: data-only frames split by <c>\r\n\r\n</c>, the last with <c>finishReason</c>.</summary>
    Gemini,
}

/// <summary>One upstream answer as it comes off the wire: the SSE bytes and how many frames they hold.</summary>
internal sealed record RecordedStream(string Name, UpstreamProtocol Protocol, byte[] Bytes, int Events, string Description);

/// <summary>
/// Builds the upstream streams the benchmark converts, with the fake upstream's own frame builders
/// (<see cref="FakeOpenAI"/>, <see cref="FakeAnthropic"/>), so the frames are the ones the tests and the
/// fake upstream send. Text deltas are a few words each, like a real model's tokens, with some quotes,
/// newlines and non-ASCII text so the JSON escaping paths are exercised.
/// </summary>
internal static class RecordedStreams
{
    private const string OpenAIModel = "deepseek-chat";
    private const string AnthropicModel = "claude-sonnet-4-5";
    private const string GeminiModel = "gemini-2.5-pro";

    private static readonly string[] Words =
    [
        "The ", "gateway ", "reads ", "each ", "event ", "once, ", "converts ", "it ", "and ", "flushes. ",
        "A \"quoted\" ", "word, ", "a tab\t", "and a newline\n", "naïve café ", "日本語 ", "✓ done ", "{braces} ",
        "path/to/file.cs ", "line 42: ",
    ];

    public static IReadOnlyList<RecordedStream> All(int textEvents) =>
    [
        OpenAIText(textEvents),
        OpenAIReasoningAndTools(),
        AnthropicText(textEvents),
        AnthropicThinkingAndTools(),
        GeminiText(textEvents),
        GeminiThoughtsAndCalls(),
    ];

    /// <summary>N text chunks, then the finish chunk with usage.</summary>
    private static RecordedStream GeminiText(int textEvents)
    {
        var steps = new List<StreamStep>();
        for (var i = 0; i < textEvents; i++)
        {
            steps.Add(GeminiChunk(new JsonObject { ["text"] = Delta(i) }));
        }

        steps.Add(GeminiChunk(new JsonObject { ["text"] = "." }, finish: true));
        return Build("gemini-text", UpstreamProtocol.Gemini, steps, $"{textEvents} text chunks and a finish chunk");
    }

    /// <summary>60 thought chunks, 40 text chunks, 3 function calls (one chunk each, the first signed), the finish chunk.</summary>
    private static RecordedStream GeminiThoughtsAndCalls()
    {
        var steps = new List<StreamStep>();
        for (var i = 0; i < 60; i++)
        {
            steps.Add(GeminiChunk(new JsonObject { ["text"] = Delta(i), ["thought"] = true }));
        }

        for (var i = 0; i < 40; i++)
        {
            steps.Add(GeminiChunk(new JsonObject { ["text"] = Delta(i + 60) }));
        }

        var calls = ToolCalls();
        for (var call = 0; call < calls.Length; call++)
        {
            var part = new JsonObject { ["functionCall"] = new JsonObject { ["name"] = calls[call].Name, ["args"] = JsonNode.Parse(string.Concat(calls[call].Pieces)) } };
            if (call == 0)
            {
                part["thoughtSignature"] = "CiQBjz1rX" + new string('x', 200);
            }

            steps.Add(GeminiChunk(part, finish: call == calls.Length - 1));
        }

        return Build("gemini-thoughts-calls", UpstreamProtocol.Gemini, steps, "60 thought chunks, 40 text chunks, 3 whole function calls (the first signed)");
    }

    private static StreamStep GeminiChunk(JsonObject part, bool finish = false)
    {
        var candidate = new JsonObject { ["content"] = new JsonObject { ["parts"] = new JsonArray(part), ["role"] = "model" }, ["index"] = 0 };
        var usage = new JsonObject { ["promptTokenCount"] = 5200, ["totalTokenCount"] = 5200 };
        if (finish)
        {
            candidate["finishReason"] = "STOP";
            usage = new JsonObject { ["promptTokenCount"] = 5200, ["candidatesTokenCount"] = 480, ["totalTokenCount"] = 5680, ["cachedContentTokenCount"] = 4096 };
        }

        return FakeGemini.Chunk(new JsonObject { ["candidates"] = new JsonArray(candidate), ["usageMetadata"] = usage, ["modelVersion"] = GeminiModel, ["responseId"] = "r1" });
    }

    /// <summary>Role chunk, N content chunks, finish, usage, [DONE].</summary>
    private static RecordedStream OpenAIText(int textEvents)
    {
        var steps = new List<StreamStep> { FakeOpenAI.RoleChunk(OpenAIModel) };
        for (var i = 0; i < textEvents; i++)
        {
            steps.Add(FakeOpenAI.TextChunk(Delta(i), OpenAIModel));
        }

        steps.Add(FakeOpenAI.FinishChunk("stop", OpenAIModel));
        steps.Add(FakeOpenAI.UsageChunk(1200, textEvents, 1000, OpenAIModel));
        steps.Add(FakeOpenAI.Done());
        return Build("openai-text", UpstreamProtocol.OpenAI, steps, $"{textEvents} content chunks");
    }

    /// <summary>60 reasoning chunks, 40 content chunks, 3 parallel tool calls (12 argument pieces each, interleaved), finish, usage, [DONE].</summary>
    private static RecordedStream OpenAIReasoningAndTools()
    {
        var steps = new List<StreamStep> { FakeOpenAI.RoleChunk(OpenAIModel) };
        for (var i = 0; i < 60; i++)
        {
            steps.Add(FakeOpenAI.ReasoningChunk(Delta(i), OpenAIModel));
        }

        for (var i = 0; i < 40; i++)
        {
            steps.Add(FakeOpenAI.TextChunk(Delta(i + 60), OpenAIModel));
        }

        var calls = ToolCalls();
        for (var call = 0; call < calls.Length; call++)
        {
            steps.Add(FakeOpenAI.ToolCallChunk(call, calls[call].Id, calls[call].Name, "", OpenAIModel));
        }

        // Parallel calls with their argument pieces interleaved by index, the harder case for the state machine.
        for (var piece = 0; piece < 12; piece++)
        {
            for (var call = 0; call < calls.Length; call++)
            {
                steps.Add(FakeOpenAI.ToolCallChunk(call, null, null, calls[call].Pieces[piece], OpenAIModel));
            }
        }

        steps.Add(FakeOpenAI.FinishChunk("tool_calls", OpenAIModel));
        steps.Add(FakeOpenAI.UsageChunk(5200, 480, 4096, OpenAIModel));
        steps.Add(FakeOpenAI.Done());
        return Build("openai-reasoning-tools", UpstreamProtocol.OpenAI, steps, "60 reasoning + 40 content chunks, 3 parallel tool calls × 12 interleaved argument pieces");
    }

    /// <summary>message_start, ping, one text block of N deltas, message_delta, message_stop.</summary>
    private static RecordedStream AnthropicText(int textEvents)
    {
        var steps = new List<StreamStep> { FakeAnthropic.MessageStart(AnthropicModel, 1200), FakeAnthropic.Ping(), FakeAnthropic.TextBlockStart(0) };
        for (var i = 0; i < textEvents; i++)
        {
            steps.Add(FakeAnthropic.TextDelta(0, Delta(i)));
        }

        steps.Add(FakeAnthropic.BlockStop(0));
        steps.Add(FakeAnthropic.MessageDelta("end_turn", textEvents));
        steps.Add(FakeAnthropic.MessageStop());
        return Build("anthropic-text", UpstreamProtocol.Anthropic, steps, $"{textEvents} text deltas");
    }

    /// <summary>A thinking block (60 deltas + signature), a text block (40 deltas), 3 tool_use blocks (12 input_json_delta each), tool_use stop.</summary>
    private static RecordedStream AnthropicThinkingAndTools()
    {
        var steps = new List<StreamStep> { FakeAnthropic.MessageStart(AnthropicModel, 5200), FakeAnthropic.ThinkingBlockStart(0) };
        for (var i = 0; i < 60; i++)
        {
            steps.Add(FakeAnthropic.ThinkingDelta(0, Delta(i)));
        }

        steps.Add(FakeAnthropic.SignatureDelta(0, "EqQBCkgIARABGAIiQL" + new string('x', 200)));
        steps.Add(FakeAnthropic.BlockStop(0));
        steps.Add(FakeAnthropic.TextBlockStart(1));
        for (var i = 0; i < 40; i++)
        {
            steps.Add(FakeAnthropic.TextDelta(1, Delta(i + 60)));
        }

        steps.Add(FakeAnthropic.BlockStop(1));
        var calls = ToolCalls();
        for (var call = 0; call < calls.Length; call++)
        {
            // Anthropic streams one block at a time: no interleaving.
            var index = call + 2;
            steps.Add(FakeAnthropic.ToolUseBlockStart(index, calls[call].Id.Replace("call_", "toolu_", StringComparison.Ordinal), calls[call].Name));
            foreach (var piece in calls[call].Pieces)
            {
                steps.Add(FakeAnthropic.InputJsonDelta(index, piece));
            }

            steps.Add(FakeAnthropic.BlockStop(index));
        }

        steps.Add(FakeAnthropic.MessageDelta("tool_use", 480));
        steps.Add(FakeAnthropic.MessageStop());
        return Build("anthropic-thinking-tools", UpstreamProtocol.Anthropic, steps, "60 thinking deltas + signature, 40 text deltas, 3 tool_use blocks × 12 input_json_delta");
    }

    private static string Delta(int i) => Words[i % Words.Length];

    private static (string Id, string Name, string[] Pieces)[] ToolCalls()
    {
        string[] arguments =
        [
            """{"file_path":"/work/main/src/Transforms/Sse/SseReader.cs","offset":120,"limit":80}""",
            """{"pattern":"CreateStreamConverter\\(","path":"src","glob":"**/*.cs","output_mode":"content","-n":true}""",
            """{"command":"dotnet test tests/Transforms.Tests --filter \"FullyQualifiedName~Conversion\"","timeout":120000,"description":"Run the conversion tests"}""",
        ];
        string[] names = ["Read", "Grep", "Bash"];
        return [.. Enumerable.Range(0, 3).Select(i => ($"call_{i}abcdefghijklmnop", names[i], Split(arguments[i], 12)))];
    }

    private static string[] Split(string text, int pieces)
    {
        var result = new string[pieces];
        for (var i = 0; i < pieces; i++)
        {
            var start = text.Length * i / pieces;
            var end = text.Length * (i + 1) / pieces;
            result[i] = text[start..end];
        }

        return result;
    }

    /// <summary>Writes the frames exactly as the fake upstream does: <c>event: X\n</c> (when named), <c>data: Y\n\n</c>.</summary>
    private static RecordedStream Build(string name, UpstreamProtocol protocol, List<StreamStep> steps, string description)
    {
        var sb = new StringBuilder();
        var events = 0;
        foreach (var step in steps)
        {
            if (step is StreamStep.RawText raw)
            {
                // Gemini's frames, written as Google writes them (\r\n\r\n): one event each.
                sb.Append(raw.Text);
                events++;
                continue;
            }

            if (step is not StreamStep.Frame frame)
            {
                throw new InvalidOperationException($"unexpected step {step}");
            }

            if (frame.Name is not null)
            {
                sb.Append("event: ").Append(frame.Name).Append('\n');
            }

            sb.Append("data: ").Append(frame.Data).Append("\n\n");
            events++;
        }

        return new RecordedStream(name, protocol, Encoding.UTF8.GetBytes(sb.ToString()), events, description);
    }
}
