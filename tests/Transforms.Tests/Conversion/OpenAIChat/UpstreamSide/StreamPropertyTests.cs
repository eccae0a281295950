using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Tests.Sse;
using FsCheck;
using FsCheck.Fluent;
using NUnit.Framework;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide.Chunks;
using static CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide.StreamHarness;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

/// <summary>
/// Properties of the stream converter: read boundaries never change the output (byte for byte), and the
/// streamed answer reassembles into exactly what the non-streamed conversion gives.
/// </summary>
[TestFixture]
public sealed class StreamPropertyTests
{
    private static readonly string[] Pieces = ["Hello", " world", "你好，世界", "👋🏽", "é", "\n", "\"quoted\"", "\\", "日本語🎌", "tab\t", " ", "∑"];

    /// <summary>Streams shaped like real providers' (DeepSeek, OpenRouter, vLLM, Ollama).</summary>
    public static readonly string[] RecordedStreams =
    [
        Upstream(Role(), Text("Hello"), Text(", world"), Finish("stop"), Usage(12, 3), Done),
        Upstream(Role(), Reasoning("思考中…"), Reasoning("🤔"), Text("你好"), ToolStart(0, "call_0", "Bash", ""), ToolArgs(0, "{\"command\":"), ToolArgs(0, "\"echo 👋\"}"), Finish("tool_calls"), Usage(100, 50, cached: 64), Done),
        Upstream(ToolStart(0, "call_a", "Read", "{\"file_"), ToolStart(1, "call_b", "Grep", "{\"pat"), ToolArgs(0, "path\":\"a\"}"), ToolArgs(1, "tern\":\"x\"}"), Finish("tool_calls"), Usage(10, 30), Done),
        Upstream(Text("partial")),
        Upstream(Text("x"), """{"error":{"message":"boom","type":"server_error"}}"""),
        ": OPENROUTER PROCESSING\r\n\r\n" + "data: " + Text("crlf") + "\r\n\r\ndata: " + Finish("stop") + "\r\n\r\ndata: [DONE]",
    ];

    /// <summary>A stream generated from a seed: reasoning, text, parallel tool calls (interleaved or not), usage.</summary>
    public static string Generated(int seed)
    {
        var random = new Random(seed);
        string Piece() => string.Concat(Enumerable.Range(0, random.Next(1, 4)).Select(_ => Pieces[random.Next(Pieces.Length)]));
        var chunks = new List<string> { Role() };
        if (random.Next(2) == 0)
        {
            chunks.AddRange(Enumerable.Range(0, random.Next(1, 4)).Select(_ => random.Next(2) == 0 ? Reasoning(Piece()) : Chunk($$$"""{"reasoning":{{{Q(Piece())}}}}""")));
        }

        chunks.AddRange(Enumerable.Range(0, random.Next(0, 4)).Select(_ => Text(Piece())));
        var tools = random.Next(0, 4);
        var fragments = new List<(int Tool, string Fragment)>();
        for (var t = 0; t < tools; t++)
        {
            var arguments = JsonSerializer.Serialize(new Dictionary<string, string> { ["value"] = Piece(), ["other"] = Piece() });
            var cut = new SortedSet<int> { 0, arguments.Length };
            for (var c = 0; c < 3; c++)
            {
                cut.Add(random.Next(arguments.Length));
            }

            var bounds = cut.ToArray();
            chunks.Add(ToolStart(t, $"call_{t}", $"Tool{t}", arguments[bounds[0]..bounds[1]]));
            for (var i = 1; i < bounds.Length - 1; i++)
            {
                fragments.Add((t, arguments[bounds[i]..bounds[i + 1]]));
            }
        }

        // Interleave the remaining fragments (or not), keeping each call's own order.
        var interleave = random.Next(2) == 0;
        var ordered = interleave ? Shuffle(fragments, random) : fragments;
        chunks.AddRange(ordered.Select(f => ToolArgs(f.Tool, f.Fragment)));
        chunks.Add(Finish(tools > 0 ? "tool_calls" : "stop"));
        chunks.Add(Usage(random.Next(1, 5000), random.Next(1, 500), random.Next(0, 2) == 0 ? 0 : random.Next(0, 1000)));
        if (random.Next(2) == 0)
        {
            chunks.Add(Done);
        }

        return Upstream([.. chunks]);
    }

    /// <summary>A stable shuffle that keeps the relative order of each tool's fragments.</summary>
    private static List<(int Tool, string Fragment)> Shuffle(List<(int Tool, string Fragment)> fragments, Random random)
    {
        var queues = fragments.GroupBy(f => f.Tool).Select(g => new Queue<(int, string)>(g)).ToList();
        var result = new List<(int, string)>();
        while (queues.Count > 0)
        {
            var q = queues[random.Next(queues.Count)];
            result.Add(q.Dequeue());
            if (q.Count == 0)
            {
                queues.Remove(q);
            }
        }

        return result;
    }

    private static byte[] ConvertWith(byte[] upstream, int[] chunkSizes) => StreamHarness.Convert(new ChunkedStream(upstream, chunkSizes));

    // NUnit1027 is a false positive here: FsCheck's [Property] generates the arguments, not an NUnit attribute.
#pragma warning disable NUnit1027
    [FsCheck.NUnit.Property(MaxTest = 300)]
    public Property AnyReadBoundaries_ByteIdenticalOutput(NonNegativeInt streamCase, int[] sizes)
    {
        var index = streamCase.Get % (RecordedStreams.Length + 50);
        var upstream = Encoding.UTF8.GetBytes(index < RecordedStreams.Length ? RecordedStreams[index] : Generated(index));

        // Read sizes 1..8, repeated over the whole stream: splits anywhere, down to one byte per read.
        var pattern = (sizes is { Length: > 0 } ? sizes : [1]).Select(s => 1 + (Math.Abs(s % 8))).ToArray();
        var chunkSizes = Enumerable.Range(0, upstream.Length).Select(i => pattern[i % pattern.Length]).ToArray();

        var whole = StreamHarness.Convert(new WholeStream(upstream));
        var split = ConvertWith(upstream, chunkSizes);
        return (whole.AsSpan().SequenceEqual(split)).Label($"case {index}, pattern [{string.Join(",", pattern)}]");
    }
#pragma warning restore NUnit1027

    [TestCaseSource(nameof(AllCases))]
    public async Task OneBytePerRead_SameAsWhole(string upstreamSse)
    {
        var whole = await ConvertAsync(upstreamSse, Delivery.Whole);
        var trickle = await ConvertAsync(upstreamSse, Delivery.Trickle);

        Assert.That(trickle, Is.EqualTo(whole));
    }

    [TestCaseSource(nameof(GeneratedCases))]
    public async Task GeneratedStream_ProtocolValid_ToolInputsWhole(int seed)
    {
        var events = await RunAsync(Generated(seed));
        var message = Reassemble(events);

        Assert.That(message.Stopped, Is.True);
        foreach (var block in message.Content.Where(b => (string)b!["type"]! == "tool_use"))
        {
            Assert.That(block!["input"]!.GetValueKind(), Is.EqualTo(JsonValueKind.Object));
            Assert.That(block["input"]!.AsObject().Select(p => p.Key), Is.EquivalentTo(new[] { "value", "other" }));
        }
    }

    public static IEnumerable<TestCaseData> AllCases() =>
        RecordedStreams.Select((s, i) => new TestCaseData(s).SetName($"OneBytePerRead_SameAsWhole(recorded {i})"))
            .Concat(Enumerable.Range(1, 20).Select(seed => new TestCaseData(Generated(seed)).SetName($"OneBytePerRead_SameAsWhole(generated {seed})")));

    public static IEnumerable<int> GeneratedCases() => Enumerable.Range(1, 60);

    // ---- Streamed = non-streamed ---------------------------------------------------------------------

    public static IEnumerable<TestCaseData> EquivalentPairs()
    {
        yield return new TestCaseData(
            Upstream(Text("Hello"), Text(", world"), Finish("stop"), Usage(12, 3), Done),
            ChatUpstreamResponseTests.Completion("""{"role":"assistant","content":"Hello, world"}""", "stop", """{"prompt_tokens":12,"completion_tokens":3}""")).SetName("Equivalent(text)");
        yield return new TestCaseData(
            Upstream(Reasoning("Think"), Reasoning("ing."), Text("I'll run it."), ToolStart(0, "call_1", "Bash", "{\"command\":"), ToolArgs(0, "\"ls\"}"), ToolStart(1, "call_2", "Read", "{\"file_path\":\"a\"}"), Finish("tool_calls"), Usage(1000, 40, cached: 800), Done),
            ChatUpstreamResponseTests.Completion("""{"role":"assistant","content":"I'll run it.","reasoning_content":"Thinking.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"Bash","arguments":"{\"command\":\"ls\"}"}},{"id":"call_2","type":"function","function":{"name":"Read","arguments":"{\"file_path\":\"a\"}"}}]}""", "tool_calls", """{"prompt_tokens":1000,"completion_tokens":40,"prompt_tokens_details":{"cached_tokens":800}}""")).SetName("Equivalent(reasoning text tools)");
        yield return new TestCaseData(
            Upstream(ToolStart(0, "call_a", "A", "{\"x\":"), ToolStart(1, "call_b", "B", "{\"y\":"), ToolArgs(0, "1}"), ToolArgs(1, "2}"), Finish("stop"), Usage(5, 5), Done),
            ChatUpstreamResponseTests.Completion("""{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"A","arguments":"{\"x\":1}"}},{"id":"call_b","type":"function","function":{"name":"B","arguments":"{\"y\":2}"}}]}""", "stop", """{"prompt_tokens":5,"completion_tokens":5}""")).SetName("Equivalent(interleaved tools, stop)");
        yield return new TestCaseData(
            Upstream(Text("1 2 3"), Chunk("{}", "stop", ""","stop_reason":"4" """.TrimEnd()), Usage(3, 3), Done),
            ChatUpstreamResponseTests.Completion("""{"role":"assistant","content":"1 2 3"}""", "stop", """{"prompt_tokens":3,"completion_tokens":3}""", ""","stop_reason":"4" """.TrimEnd())).SetName("Equivalent(stop sequence)");
        yield return new TestCaseData(
            Upstream(Chunk("""{"refusal":"No."}"""), Finish("stop"), Usage(3, 1), Done),
            ChatUpstreamResponseTests.Completion("""{"role":"assistant","content":null,"refusal":"No."}""", "stop", """{"prompt_tokens":3,"completion_tokens":1}""")).SetName("Equivalent(refusal)");
    }

    [TestCaseSource(nameof(EquivalentPairs))]
    public async Task StreamedAndNonStreamed_SameMessage(string upstreamSse, string completion)
    {
        var streamed = Reassemble(await RunAsync(upstreamSse, Delivery.Trickle)).Message!;
        var direct = JsonNode.Parse(ChatUpstream.ConvertResponse(Encoding.UTF8.GetBytes(completion), Model, ToolNameMap.Identity, MessageId))!;

        Assert.That(streamed.ToJsonString(), Is.EqualTo(direct.ToJsonString()));
    }
}
