using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace CcxProxy.Bench.Limits;

/// <summary>The Markdown report: decisions per second, the lookup alone, requests end to end, and the differences.</summary>
internal static class Report
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(BenchOptions options, DateTimeOffset started, TimeSpan took, string redisVersion, List<DecisionCell> decisions, GatewayResults gateway)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# ccx-proxy key lookup and limits benchmark");
        sb.AppendLine();
        sb.AppendLine(Inv, $"- Date: {started:yyyy-MM-dd HH:mm} UTC; run time {took.TotalSeconds:0} s");
        sb.AppendLine(Inv, $"- Machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.OSArchitecture}, .NET {Environment.Version}; redis-server {redisVersion} on 127.0.0.1 (no persistence), StackExchange.Redis, one multiplexer");
        sb.AppendLine(Inv, $"- Limit decisions: {options.Warmup:0.#} s warm-up + {options.Seconds:0.#} s per cell; gateway: {options.Rounds} rounds round-robin, {options.Requests} requests per case per round at concurrency 1, {options.WarmupRequests} warm-up requests per case");
        sb.AppendLine();

        sb.AppendLine("## Limit decisions (ILimitStore from AddCcxProxy's DI)");
        sb.AppendLine();
        sb.AppendLine("A decision = `AcquireAsync` + `ReleaseAsync`, key scope + group scope, every limit set (RPM, input and output TPM, concurrency, monthly quota) and never refusing.");
        sb.AppendLine();
        sb.AppendLine("| Store | Conc. | decisions | decisions/s | p50 µs | p99 µs | refused | client ops/decision | Redis cmds/decision | fallbacks |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var d in decisions)
        {
            sb.AppendLine(Inv, $"| {d.Store} | {d.Concurrency} | {d.Decisions:N0} | {d.PerSecond:N0} | {d.Latency.Percentile(0.5) * 1000:0.0} | {d.Latency.Percentile(0.99) * 1000:0.0} | {d.Refused} | {(double)d.RoundTrips / Math.Max(1, d.Decisions):0.00} | {(double)d.RedisCalls / Math.Max(1, d.Decisions):0.0} | {d.Fallbacks} |");
        }

        sb.AppendLine();
        foreach (var group in decisions.GroupBy(d => d.Concurrency))
        {
            var memory = group.FirstOrDefault(d => d.Store == "in-memory");
            var redis = group.FirstOrDefault(d => d.Store == "Redis");
            if (memory is not null && redis is not null)
            {
                sb.AppendLine(Inv, $"- Concurrency {group.Key}: Redis ÷ in-memory throughput {redis.PerSecond / memory.PerSecond:0.000}; Redis p50 − in-memory p50 = {(redis.Latency.Percentile(0.5) - memory.Latency.Percentile(0.5)) * 1000:+0.0;−0.0} µs");
            }
        }

        sb.AppendLine();
        sb.AppendLine("## Key lookup alone (CallerAuthentication.AuthenticateAsync, the gateway's own singleton)");
        sb.AppendLine();
        sb.AppendLine("| Case | What it is | lookups | p50 µs | p99 µs | +p50 µs | +p99 µs | client ops/lookup | errors |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        var lookupBase = gateway.Lookups[0].Latency;
        foreach (var c in gateway.Lookups)
        {
            var isBase = ReferenceEquals(c.Latency, lookupBase);
            sb.AppendLine(Inv, $"| {c.Case.Name} | {c.Case.Description} | {c.Latency.Count:N0} | {c.Latency.Percentile(0.5) * 1000:0.0} | {c.Latency.Percentile(0.99) * 1000:0.0} " +
                $"| {(isBase ? "–" : Delta((c.Latency.Percentile(0.5) - lookupBase.Percentile(0.5)) * 1000, "0.0"))} | {(isBase ? "–" : Delta((c.Latency.Percentile(0.99) - lookupBase.Percentile(0.99)) * 1000, "0.0"))} " +
                $"| {c.RoundTripsPerRequest:0.00} | {c.Latency.Errors} |");
        }

        sb.AppendLine();
        sb.AppendLine("## Small requests end to end (gateway in process, Redis configured, fake upstream)");
        sb.AppendLine();
        sb.AppendLine("| Case | What it is | requests | p50 ms | p99 ms | +p50 ms | +p99 ms | client ops/req | Redis cmds/req | errors |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        var requestBase = gateway.Requests[0].Latency;
        foreach (var c in gateway.Requests)
        {
            var isBase = ReferenceEquals(c.Latency, requestBase);
            sb.AppendLine(Inv, $"| {c.Case.Name} | {c.Case.Description} | {c.Latency.Count:N0} | {c.Latency.Percentile(0.5):0.000} | {c.Latency.Percentile(0.99):0.000} " +
                $"| {(isBase ? "–" : Delta(c.Latency.Percentile(0.5) - requestBase.Percentile(0.5), "0.000"))} | {(isBase ? "–" : Delta(c.Latency.Percentile(0.99) - requestBase.Percentile(0.99), "0.000"))} " +
                $"| {c.RoundTripsPerRequest:0.00} | {c.RedisCallsPerRequest:0.0} | {c.Latency.Errors} |");
        }

        sb.AppendLine();
        sb.AppendLine("## Added latency per request, read as differences (p50 / p99, ms)");
        sb.AppendLine();
        sb.AppendLine("| What is added | Difference | +p50 ms | +p99 ms |");
        sb.AppendLine("|---|---|---:|---:|");
        var byName = gateway.Requests.ToDictionary(c => c.Case.Name, c => c.Latency);
        void Row(string what, string minuend, string subtrahend)
        {
            var a = byName[minuend];
            var b = byName[subtrahend];
            sb.AppendLine(Inv, $"| {what} | {minuend} − {subtrahend} | {Delta(a.Percentile(0.5) - b.Percentile(0.5), "0.000")} | {Delta(a.Percentile(0.99) - b.Percentile(0.99), "0.000")} |");
        }

        Row("key lookup, cached", "stored, cached, no limits", "PROXY_ACCESS_KEY");
        Row("key lookup, uncached (one Redis read)", "stored, uncached, no limits", "PROXY_ACCESS_KEY");
        Row("limit check, group scope (Redis)", "stored, cached, group limits", "stored, cached, no limits");
        Row("limit check, key + group scopes (Redis)", "stored, cached, key + group limits", "stored, cached, no limits");
        Row("lookup uncached + key + group limits", "stored, uncached, key + group limits", "PROXY_ACCESS_KEY");

        sb.AppendLine();
        sb.AppendLine("*client ops* = operations the Redis client sent (`GetCounters().Interactive.OperationCount`; a pipelined batch counts each of its operations, so this is not round trips: usage accounting is one batch of 24); *Redis cmds* = commands Redis executed (`INFO commandstats`, commands run inside the Lua scripts included).");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Limit store calls answered in memory during the gateway part (`ccx.limits.redis_fallbacks`): {gateway.Fallbacks}. Keys created in Redis: {gateway.KeysCreated:N0}.");
        var errors = gateway.Lookups.Concat(gateway.Requests).Where(c => c.Latency.FirstError is not null).Select(c => c.Latency.FirstError).ToList();
        if (errors.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("First error of each case that had one:");
            sb.AppendLine();
            foreach (var e in errors)
            {
                sb.AppendLine(Inv, $"- {e}");
            }
        }

        return sb.ToString();
    }

    private static string Delta(double value, string format) =>
        double.IsNaN(value) ? "–" : (value >= 0 ? "+" : "−") + Math.Abs(value).ToString(format, Inv);
}
