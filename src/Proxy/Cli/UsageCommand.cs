using System.Globalization;
using System.Text.Json;
using CcxProxy.Hosting;
using CcxProxy.Redis;
using CcxProxy.Usage;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Cli;

/// <summary>
/// <c>ccx-proxy usage --key ID | --group NAME | --channel NAME | --model NAME [--from T] [--to T] [--json]</c>:
/// the usage totals every replica accounted in Redis (the same numbers as <c>GET /admin/usage</c>).
/// </summary>
internal static class UsageCommand
{
    public const string Verb = "usage";

    public const string UsageText = """
        usage:
          ccx-proxy usage (--key ID | --group NAME | --channel NAME | --model NAME)
                          [--from 2026-11-01T00:00:00Z] [--to 2026-11-23T12:00:00Z] [--json]
          Totals of requests, input, output, cache read and cache write tokens, summed by hour
          (from and to default to the last 24 hours). Usage is read from Redis: set Redis:Configuration.

        """;

    private static readonly string[] s_dimensions = ["key", "group", "channel", "model"];

    public static async Task<int> RunAsync(string[] args, CliContext context)
    {
        if (CliApp.WantsHelp(args))
        {
            await context.Out.WriteAsync(UsageText).ConfigureAwait(false);
            return CliApp.Ok;
        }

        if (!CliArguments.TryParse(args, [.. s_dimensions, "from", "to"], ["json"], out var parsed, out var error))
        {
            return await CliApp.UsageAsync(context, $"usage: {error}", UsageText).ConfigureAwait(false);
        }

        var chosen = s_dimensions.Where(parsed.Has).ToList();
        if (chosen.Count != 1 || parsed.Positionals.Count > 0)
        {
            return await CliApp.UsageAsync(context, "usage: give exactly one of --key, --group, --channel, --model", UsageText).ConfigureAwait(false);
        }

        var dimension = chosen[0];
        var name = parsed.Value(dimension)!;
        var now = context.Time.GetUtcNow();
        if (!UsageReport.TryParseInstant(parsed.Value("from"), now.AddDays(-1), out var from) || !UsageReport.TryParseInstant(parsed.Value("to"), now, out var to) || from > to)
        {
            return await CliApp.UsageAsync(context, "usage: --from and --to take instants like 2026-11-23T00:00:00Z, from before to", UsageText).ConfigureAwait(false);
        }

        if (UsageDimensions.CheckRange(from, to, now) is { } range)
        {
            return await CliApp.UsageAsync(context, "usage: " + range, UsageText).ConfigureAwait(false);
        }

        var configuration = CliApp.BuildConfiguration(context, parsed.ConfigurationArgs);
        var settings = configuration.GetSection(RedisSettings.Section).Get<RedisSettings>() ?? new RedisSettings();
        if (settings.Configuration is not { } redis || string.IsNullOrWhiteSpace(redis))
        {
            await context.Error.WriteLineAsync(
                "error: without Redis each gateway keeps its usage in its own memory: read it with GET /admin/usage, or configure Redis:Configuration").ConfigureAwait(false);
            return CliApp.Usage;
        }

        using var connection = new RedisConnection(redis, NullLogger<RedisConnection>.Instance, settings.CaCertificate);
        if (!(await connection.MultiplexerAsync.ConfigureAwait(false) is { IsConnected: true }))
        {
            await context.Error.WriteLineAsync("error: cannot reach Redis").ConfigureAwait(false);
            return CliApp.Failed;
        }

        using var timeout = new CancellationTokenSource(context.Timeout);
        var totals = await new RedisUsageStore(connection).ReadAsync(dimension, name, from, to, timeout.Token).ConfigureAwait(false);
        if (parsed.Has("json"))
        {
            await context.Out.WriteLineAsync(JsonSerializer.Serialize(UsageReport.ToJson(dimension, name, from, to, totals))).ConfigureAwait(false);
        }
        else
        {
            var culture = CultureInfo.InvariantCulture;
            await context.Out.WriteLineAsync($"{dimension} {name}, {from.ToString("u", culture)} to {to.ToString("u", culture)}").ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  requests           {totals.Requests,14:N0}")).ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  from the cache     {totals.CachedRequests,14:N0}")).ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  input tokens       {totals.InputTokens,14:N0}")).ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  output tokens      {totals.OutputTokens,14:N0}")).ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  cache read tokens  {totals.CacheReadTokens,14:N0}")).ConfigureAwait(false);
            await context.Out.WriteLineAsync(string.Create(culture, $"  cache write tokens {totals.CacheWriteTokens,14:N0}")).ConfigureAwait(false);
        }

        return CliApp.Ok;
    }
}
