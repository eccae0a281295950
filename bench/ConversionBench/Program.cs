using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime;
using System.Text;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Conversion.Gemini;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Conversion;

namespace CcxProxy.Bench.Conversion;

/// <summary>
/// conversion-bench: events per second and bytes allocated per event of the stream converters (both
/// directions) against the pass-through relays and SSE parsing alone, on one thread, in memory. See
/// bench/README.md.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: dotnet run -c Release --project bench/ConversionBench [-- options]
          --seconds N     measured time per case, split over the rounds, default 3
          --rounds N      rounds per case, run round-robin across cases; the fastest round is reported, default 3
          --warmup N      warm-up seconds per case before the rounds, default 1
          --events N      text deltas in the text-only streams, default 200
          --output PATH   Markdown report, default bench/results/conversion.md
        """;

    private const string AnthropicClientModel = "claude-sonnet-4-5";
    private const string OpenAIClientModel = "gpt-4o";
    private const string GeminiClientModel = "gemini-2.5-pro";

    public static int Main(string[] args)
    {
        var inv = CultureInfo.InvariantCulture;
        double seconds = 3, warmup = 1;
        int rounds = 3, textEvents = 200;
        string? output = null;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-h" or "--help")
            {
                Console.Error.WriteLine(Usage);
                return 0;
            }

            var name = args[i];
            var value = i + 1 < args.Length ? args[++i] : null;
            var ok = name switch
            {
                "--seconds" => double.TryParse(value, NumberStyles.Float, inv, out seconds) && seconds is > 0 and <= 600,
                "--rounds" => int.TryParse(value, NumberStyles.None, inv, out rounds) && rounds is >= 1 and <= 100,
                "--warmup" => double.TryParse(value, NumberStyles.Float, inv, out warmup) && warmup is >= 0 and <= 60,
                "--events" => int.TryParse(value, NumberStyles.None, inv, out textEvents) && textEvents is >= 1 and <= 100_000,
                "--output" => (output = value) is not null,
                _ => false,
            };
            if (!ok)
            {
                Console.Error.WriteLine($"conversion-bench: unknown option or bad value: {name} {value}");
                Console.Error.WriteLine(Usage);
                return 2;
            }
        }

        var started = DateTimeOffset.UtcNow;
        var cases = BuildCases(RecordedStreams.All(textEvents));
        var results = cases.Select(c => new CaseResult(c)).ToList();
        var harness = new Harness();
        try
        {
            foreach (var result in results)
            {
                result.OutputBytesPerStream = harness.Validate(result.Case);
            }
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"conversion-bench: {ex.Message}");
            return 3;
        }

        Console.WriteLine($"conversion-bench: {cases.Count} cases, {warmup:0.#} s warm-up + {seconds:0.#} s in {rounds} rounds each, GC: {(GCSettings.IsServerGC ? "server" : "workstation")}");
        foreach (var result in results)
        {
            harness.Run(result.Case, TimeSpan.FromSeconds(warmup));
        }

        var perRound = TimeSpan.FromSeconds(seconds / rounds);
        for (var round = 1; round <= rounds; round++)
        {
            foreach (var result in results)
            {
                // Start every measurement from the same heap state, so one case's garbage is not collected on another's clock.
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                var (streams, events, allocated, elapsed) = harness.Run(result.Case, perRound);
                result.Add(streams, events, allocated, elapsed);
                Console.WriteLine(string.Create(inv, $"  round {round}  {result.Case.Name,-48} {events / elapsed.TotalSeconds,12:N0} events/s  {(double)allocated / events,8:0.0} B/event"));
            }
        }

        var report = Render(results, started, seconds, rounds, warmup);
        Console.WriteLine();
        Console.WriteLine(report);
        var path = Path.GetFullPath(output ?? Path.Combine(FindRepositoryRoot(), "bench", "results", "conversion.md"));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, report);
        Console.WriteLine($"conversion-bench: wrote {path}");
        return 0;
    }

    /// <summary>For each input stream: parse only, the same-protocol relay, and the conversion to the other protocol.</summary>
    private static List<BenchCase> BuildCases(IReadOnlyList<RecordedStream> inputs)
    {
        var cases = new List<BenchCase>();
        foreach (var input in inputs)
        {
            cases.Add(new BenchCase($"{input.Name} / {BenchCase.ParseOnly}", input, BenchCase.ParseOnly, null, null));
            if (input.Protocol == UpstreamProtocol.Gemini)
            {
                cases.Add(new BenchCase($"{input.Name} / GeminiPassthroughStream", input, BenchCase.Passthrough,
                    () => new GeminiPassthroughStream(jsonArray: false), "\"responseId\":\"r1\"}"));
                cases.Add(new BenchCase($"{input.Name} / GeminiUpstream (→ Anthropic)", input, BenchCase.Convert,
                    () => GeminiUpstream.CreateStreamConverter(AnthropicClientModel, 1200), "data: {\"type\":\"message_stop\"}"));
            }
            else if (input.Protocol == UpstreamProtocol.OpenAI)
            {
                cases.Add(new BenchCase($"{input.Name} / ChatPassthroughStream", input, BenchCase.Passthrough,
                    () => new ChatPassthroughStream(OpenAIClientModel), "data: [DONE]"));
                cases.Add(new BenchCase($"{input.Name} / ChatUpstream (→ Anthropic)", input, BenchCase.Convert,
                    () => ChatUpstream.CreateStreamConverter(AnthropicClientModel, ToolNameMap.Identity, 1200), "data: {\"type\":\"message_stop\"}"));
            }
            else
            {
                cases.Add(new BenchCase($"{input.Name} / AnthropicPassthroughStream", input, BenchCase.Passthrough,
                    () => new AnthropicPassthroughStream(AnthropicClientModel), "data: {\"type\":\"message_stop\"}"));
                cases.Add(new BenchCase($"{input.Name} / ChatClient (→ OpenAI)", input, BenchCase.Convert,
                    () => ChatClient.CreateStreamConverter(OpenAIClientModel, includeUsage: true, TimeProvider.System), "data: [DONE]"));
                // The last frame is response.completed, whose response object ends with its metadata.
                cases.Add(new BenchCase($"{input.Name} / ResponsesClient (→ Responses)", input, BenchCase.Convert,
                    () => ResponsesClient.CreateStreamConverter(OpenAIClientModel, TimeProvider.System), "\"metadata\":{}}}"));
                cases.Add(new BenchCase($"{input.Name} / GeminiClient (→ Gemini)", input, BenchCase.Convert,
                    () => GeminiClient.CreateStreamConverter(GeminiClientModel, jsonArray: false), $"\"modelVersion\":\"{GeminiClientModel}\"}}"));
            }
        }

        return cases;
    }

    private static string Render(List<CaseResult> results, DateTimeOffset started, double seconds, int rounds, double warmup)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# ccx-proxy stream conversion benchmark");
        sb.AppendLine();
        sb.AppendLine(inv, $"- Date: {started:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine(inv, $"- Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.OSArchitecture}, .NET {Environment.Version}; one thread, workstation non-concurrent GC");
        sb.AppendLine(inv, $"- Per case: {warmup:0.#} s warm-up, then {seconds:0.#} s in {rounds} rounds run round-robin across cases; events/s is the fastest round, B/event is over all rounds");
        sb.AppendLine("- Per stream: `SseReader` over a `MemoryStream` of the recorded bytes, a fresh converter, every event converted into one reused `ArrayBufferWriter<byte>`; an *event* is one upstream SSE frame");
        sb.AppendLine("- *conv. only* = the case minus `parse only` of the same input (the converter's own cost); *× relay* = conv. only time ÷ the pass-through relay's own time on the same input");
        sb.AppendLine();
        sb.AppendLine("| Upstream stream | Events | Case | events/s | ns/event | B/event | conv. only ns/event | conv. only B/event | × relay | out bytes/stream |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var group in results.GroupBy(r => r.Case.Input))
        {
            var parse = group.Single(r => r.Case.Kind == BenchCase.ParseOnly);
            var relay = group.Single(r => r.Case.Kind == BenchCase.Passthrough);
            var relayOwn = relay.NanosecondsPerEvent - parse.NanosecondsPerEvent;
            foreach (var r in group)
            {
                var isParse = r.Case.Kind == BenchCase.ParseOnly;
                var ownNs = r.NanosecondsPerEvent - parse.NanosecondsPerEvent;
                var ownBytes = r.AllocatedBytesPerEvent - parse.AllocatedBytesPerEvent;
                var times = r.Case.Kind == BenchCase.Convert && relayOwn > 0 ? (ownNs / relayOwn).ToString("0.0", inv) + "×" : "–";
                sb.AppendLine(inv, $"| {group.Key.Name} | {group.Key.Events} | {CaseLabel(r.Case)} | {r.BestEventsPerSecond:N0} | {r.NanosecondsPerEvent:0} " +
                    $"| {r.AllocatedBytesPerEvent:0} | {(isParse ? "–" : ownNs.ToString("0", inv))} | {(isParse ? "–" : ownBytes.ToString("0", inv))} | {times} " +
                    $"| {(isParse ? group.Key.Bytes.Length.ToString("N0", inv) + " (in)" : r.OutputBytesPerStream.ToString("N0", inv))} |");
            }
        }

        sb.AppendLine();
        sb.AppendLine("Inputs:");
        sb.AppendLine();
        foreach (var input in results.Select(r => r.Case.Input).Distinct())
        {
            sb.AppendLine(inv, $"- `{input.Name}`: {input.Description}; {input.Events} frames, {input.Bytes.Length:N0} bytes");
        }

        sb.AppendLine();
        sb.AppendLine("Every round, to judge the noise (events/s):");
        sb.AppendLine();
        foreach (var r in results)
        {
            sb.AppendLine(inv, $"- {r.Case.Name}: {string.Join(" / ", r.RoundEventsPerSecond.Select(v => v.ToString("N0", inv)))}");
        }

        return sb.ToString();
    }

    private static string CaseLabel(BenchCase c) => c.Kind switch
    {
        BenchCase.ParseOnly => "SseReader only",
        _ => c.Name[(c.Name.IndexOf(" / ", StringComparison.Ordinal) + 3)..],
    };

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ccx-proxy.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        return Directory.GetCurrentDirectory();
    }
}
