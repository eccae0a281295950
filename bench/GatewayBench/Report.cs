using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace CcxProxy.Bench;

/// <summary>One measured cell: a scenario at a concurrency against one target.</summary>
internal sealed record Cell(Scenario Scenario, int Concurrency, string Target, CellResult Result, TimeSpan? GatewayCpu);

/// <summary>Renders the cells as Markdown: raw numbers, then the gateway's cost relative to direct.</summary>
internal static class Report
{
    public static string Render(BenchOptions options, IReadOnlyList<Cell> cells, IReadOnlyList<TrickleResult> trickles, long? peakWorkingSet, long? finalWorkingSet,
        DateTimeOffset started)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# ccx-proxy gateway benchmark");
        sb.AppendLine();
        sb.AppendLine(inv, $"- Date: {started:yyyy-MM-dd HH:mm} UTC");
        sb.AppendLine(inv, $"- Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.OSArchitecture}, .NET {Environment.Version}");
        sb.AppendLine(inv, $"- Cell: {options.Seconds:0.#} s or {options.MaxRequests} requests, after {options.Warmup} warm-up requests; closed loop, HTTP/1.1, 127.0.0.1");
        sb.AppendLine(inv, $"- small = non-streaming `/v1/messages`, whole body read; stream = `\"stream\":true`, {options.StreamEvents} text deltas, read to `message_stop`");
        sb.AppendLine(inv, $"- convert = the stream request (Anthropic client, `/v1/messages`) to an `openai` channel: the fake streams {options.StreamEvents} content chunks and the gateway converts them; direct = the same in OpenAI's protocol (`/v1/chat/completions`, read to `[DONE]`)");
        sb.AppendLine();
        sb.AppendLine("| Scenario | Conc. | Target | OK | Errors | req/s | p50 ms | p99 ms | TTFB p50 ms | TTFB p99 ms | bytes/resp | gateway CPU µs/req |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var cell in cells)
        {
            var r = cell.Result;
            var ttfb50 = cell.Scenario.Stream ? Ms(CellResult.Percentile(r.TtfbMs, 0.50)) : "–";
            var ttfb99 = cell.Scenario.Stream ? Ms(CellResult.Percentile(r.TtfbMs, 0.99)) : "–";
            var cpu = cell.GatewayCpu is { } c && r.Ok > 0 ? (c.TotalMicroseconds / r.Ok).ToString("0", inv) : "–";
            sb.AppendLine(inv, $"| {cell.Scenario.Name} | {cell.Concurrency} | {cell.Target} | {r.Ok} | {r.Errors} | {r.RequestsPerSecond:0} | {Ms(CellResult.Percentile(r.LatencyMs, 0.50))} | {Ms(CellResult.Percentile(r.LatencyMs, 0.99))} | {ttfb50} | {ttfb99} | {r.BytesPerResponse:0} | {cpu} |");
        }

        sb.AppendLine();
        sb.AppendLine("Gateway cost (gateway − direct; throughput ratio = gateway req/s ÷ direct req/s):");
        sb.AppendLine();
        sb.AppendLine("| Scenario | Conc. | +p50 ms | +p99 ms | +TTFB p50 ms | +TTFB p99 ms | throughput ratio |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var group in cells.GroupBy(c => (c.Scenario.Name, c.Concurrency)))
        {
            var direct = group.FirstOrDefault(c => c.Target == Targets.Direct)?.Result;
            var gateway = group.FirstOrDefault(c => c.Target == Targets.Gateway)?.Result;
            if (direct is null || gateway is null)
            {
                continue;
            }

            var stream = group.First().Scenario.Stream;
            sb.AppendLine(inv, $"| {group.Key.Name} | {group.Key.Concurrency} " +
                $"| {Delta(direct.LatencyMs, gateway.LatencyMs, 0.50)} | {Delta(direct.LatencyMs, gateway.LatencyMs, 0.99)} " +
                $"| {(stream ? Delta(direct.TtfbMs, gateway.TtfbMs, 0.50) : "–")} | {(stream ? Delta(direct.TtfbMs, gateway.TtfbMs, 0.99) : "–")} " +
                $"| {(direct.RequestsPerSecond > 0 ? (gateway.RequestsPerSecond / direct.RequestsPerSecond).ToString("0.00", inv) : "–")} |");
        }

        RenderTrickle(sb, options, trickles);
        RenderConversion(sb, options, cells);
        RenderCache(sb, options, cells);
        sb.AppendLine();
        sb.AppendLine(inv, $"Gateway process peak working set (VmHWM): {Mib(peakWorkingSet)}; at the end (VmRSS): {Mib(finalWorkingSet)}.");
        var errors = cells.Where(c => c.Result.FirstError is not null).ToList();
        if (errors.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("First error of each cell that had errors:");
            sb.AppendLine();
            foreach (var cell in errors)
            {
                sb.AppendLine(inv, $"- {cell.Scenario.Name} c={cell.Concurrency} {cell.Target}: {OneLine(cell.Result.FirstError!)}");
            }
        }

        return sb.ToString();
    }

    /// <summary>Conversion versus pass-through, both through the gateway: the same answer, from an openai channel or an anthropic one.</summary>
    private static void RenderConversion(StringBuilder sb, BenchOptions options, IReadOnlyList<Cell> cells)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<string>();
        foreach (var concurrency in options.Concurrency)
        {
            var passthrough = cells.FirstOrDefault(c => c.Scenario.Name == "stream" && c.Concurrency == concurrency && c.Target == Targets.Gateway);
            var convert = cells.FirstOrDefault(c => c.Scenario.Name == "convert" && c.Concurrency == concurrency && c.Target == Targets.Gateway);
            if (passthrough is null || convert is null || passthrough.Result.Ok == 0 || convert.Result.Ok == 0)
            {
                continue;
            }

            var p = passthrough.Result;
            var c = convert.Result;
            var pDirect = cells.FirstOrDefault(x => x.Scenario.Name == "stream" && x.Concurrency == concurrency && x.Target == Targets.Direct)?.Result;
            var cDirect = cells.FirstOrDefault(x => x.Scenario.Name == "convert" && x.Concurrency == concurrency && x.Target == Targets.Direct)?.Result;
            var net = pDirect is null || cDirect is null ? double.NaN
                : (CellResult.Percentile(c.LatencyMs, 0.50) - CellResult.Percentile(cDirect.LatencyMs, 0.50))
                  - (CellResult.Percentile(p.LatencyMs, 0.50) - CellResult.Percentile(pDirect.LatencyMs, 0.50));
            var d50 = CellResult.Percentile(c.LatencyMs, 0.50) - CellResult.Percentile(p.LatencyMs, 0.50);
            var cpuP = passthrough.GatewayCpu is { } cp ? cp.TotalMicroseconds / p.Ok : double.NaN;
            var cpuC = convert.GatewayCpu is { } cc ? cc.TotalMicroseconds / c.Ok : double.NaN;
            rows.Add(string.Create(inv, $"| {concurrency} | {Delta(p.LatencyMs, c.LatencyMs, 0.50)} | {Delta(p.LatencyMs, c.LatencyMs, 0.99)} " +
                $"| {Delta(p.TtfbMs, c.TtfbMs, 0.50)} | {Delta(p.TtfbMs, c.TtfbMs, 0.99)} | {d50 * 1000 / options.StreamEvents:+0.0;-0.0} | {net:+0.00;-0.00} | {net * 1000 / options.StreamEvents:+0.0;-0.0} " +
                $"| {cpuP:0} → {cpuC:0} | {(cpuC - cpuP) / options.StreamEvents:+0.0;-0.0} | {(p.RequestsPerSecond > 0 ? c.RequestsPerSecond / p.RequestsPerSecond : double.NaN):0.00} |"));
        }

        if (rows.Count == 0)
        {
            return;
        }

        sb.AppendLine();
        sb.AppendLine(inv, $"Conversion cost (gateway `convert` − gateway `stream`: the same {options.StreamEvents}-delta answer from an `openai` channel, converted, versus an `anthropic` channel, passed through; per event = the difference ÷ {options.StreamEvents}; *net* = (convert gateway − convert direct) − (stream gateway − stream direct), which removes the fake OpenAI stream's own larger cost on the shared cores):");
        sb.AppendLine();
        sb.AppendLine("| Conc. | +p50 ms | +p99 ms | +TTFB p50 ms | +TTFB p99 ms | +p50 µs/event | net +p50 ms | net +p50 µs/event | gateway CPU µs/req (pass → conv) | +CPU µs/event | throughput ratio |");
        sb.AppendLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            sb.AppendLine(row);
        }
    }

    /// <summary>The response cache's hit path against the forwarded answer it replaces, both through the gateway.</summary>
    private static void RenderCache(StringBuilder sb, BenchOptions options, IReadOnlyList<Cell> cells)
    {
        var inv = CultureInfo.InvariantCulture;
        var rows = new List<string>();
        foreach (var (forwarded, cached) in new[] { ("small", "cached"), ("stream", "cached-stream") })
        {
            foreach (var concurrency in options.Concurrency)
            {
                var f = cells.FirstOrDefault(c => c.Scenario.Name == forwarded && c.Concurrency == concurrency && c.Target == Targets.Gateway);
                var h = cells.FirstOrDefault(c => c.Scenario.Name == cached && c.Concurrency == concurrency && c.Target == Targets.Gateway);
                if (f is not { Result.Ok: > 0 } || h is not { Result.Ok: > 0 })
                {
                    continue;
                }

                var cpuF = f.GatewayCpu is { } cf ? cf.TotalMicroseconds / f.Result.Ok : double.NaN;
                var cpuH = h.GatewayCpu is { } ch ? ch.TotalMicroseconds / h.Result.Ok : double.NaN;
                rows.Add(string.Create(inv, $"| {forwarded} → {cached} | {concurrency} | {cpuF:0} → {cpuH:0} ({cpuH / cpuF:0.00}×) " +
                    $"| {Ms(CellResult.Percentile(f.Result.LatencyMs, 0.50))} → {Ms(CellResult.Percentile(h.Result.LatencyMs, 0.50))} " +
                    $"| {f.Result.RequestsPerSecond:0} → {h.Result.RequestsPerSecond:0} |"));
            }
        }

        if (rows.Count == 0)
        {
            return;
        }

        sb.AppendLine();
        sb.AppendLine("Response cache (gateway, forwarded → answered from the cache: the same request and answer; the cached cells send `x-ccx-cache: use` and every measured request is a hit):");
        sb.AppendLine();
        sb.AppendLine("| Scenarios | Conc. | gateway CPU µs/req | p50 ms | req/s |");
        sb.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var row in rows)
        {
            sb.AppendLine(row);
        }
    }

    private static void RenderTrickle(StringBuilder sb, BenchOptions options, IReadOnlyList<TrickleResult> trickles)
    {
        if (trickles.Count == 0)
        {
            return;
        }

        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine();
        sb.AppendLine(string.Create(inv, $"Trickling streams: N streams opened over {options.Interval.TotalMilliseconds:0} ms and held open, one event every {options.Interval.TotalMilliseconds:0} ms each; ")
            + string.Create(inv, $"measured over {options.Window.TotalSeconds:0.#} s once all are open. CPU/event = gateway CPU ÷ events the clients received; RSS/stream = gateway VmRSS growth ÷ N; ")
            + "TTFE = time from sending the request to the first body bytes. floor = the same streams through FloorRelay, "
            + "a relay on the gateway's framework parts (Kestrel, SocketsHttpHandler) that only copies bytes: what any such relay costs here.");
        sb.AppendLine();
        sb.AppendLine("| Scenario | Streams | Target | events | events/s | gateway CPU µs/event | gateway context switches/event | gateway RSS KiB/stream | TTFE p50 ms | TTFE p99 ms | open at end | failed |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var t in trickles)
        {
            sb.AppendLine(inv, $"| {t.Scenario.Name} | {t.Streams} | {t.Target} | {t.Events} | {t.Events / t.Window.TotalSeconds:0} " +
                $"| {t.CpuPerEventMicroseconds?.ToString("0.0", inv) ?? "–"} | {t.SwitchesPerEvent?.ToString("0.00", inv) ?? "–"} | {t.RssPerStreamKib?.ToString("0.0", inv) ?? "–"} " +
                $"| {Ms(CellResult.Percentile(t.TtfeMs, 0.50))} | {Ms(CellResult.Percentile(t.TtfeMs, 0.99))} | {t.OpenAtEnd} | {t.Failed}{(t.FirstError is { } e ? $" ({e})" : "")} |");
        }
    }

    private static string Ms(double value) => double.IsNaN(value) ? "–" : value.ToString(value < 10 ? "0.00" : "0.0", CultureInfo.InvariantCulture);

    private static string Delta(double[] direct, double[] gateway, double p)
    {
        var d = CellResult.Percentile(gateway, p) - CellResult.Percentile(direct, p);
        return double.IsNaN(d) ? "–" : (d >= 0 ? "+" : "") + d.ToString("0.00", CultureInfo.InvariantCulture);
    }

    private static string Mib(long? bytes) => bytes is { } b ? (b / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : "n/a";

    private static string OneLine(string text)
    {
        var line = text.ReplaceLineEndings(" ").Replace("|", "\\|", StringComparison.Ordinal);
        return line.Length > 200 ? line[..200] + "…" : line;
    }
}

/// <summary>Target names, as printed.</summary>
internal static class Targets
{
    public const string Direct = "direct";
    public const string Gateway = "gateway";

    /// <summary>The floor relay (<see cref="FloorRelay"/>), in the trickle scenarios only.</summary>
    public const string Floor = "floor";
}
