using System.Globalization;
using System.Text.RegularExpressions;
using CcxProxy.Hosting;
using CcxProxy.Keys;
using CcxProxy.Redis;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Cli;

/// <summary>
/// <c>ccx-proxy keys create|list|show|revoke|set-limits</c>: manages caller keys in Redis, where every
/// replica reads them. The new key is printed once, by <c>create</c>; nothing else ever prints or stores it.
/// </summary>
internal static partial class KeysCommand
{
    public const string Verb = "keys";

    public const string UsageText = """
        usage:
          ccx-proxy keys create --group NAME [--label TEXT] [--expires 2027-01-01|30d|12h]
                                [--rpm N] [--input-tpm N] [--output-tpm N] [--concurrency N]
                                [--quota N [--quota-period total|day|month]] [--json]
          ccx-proxy keys list [--json]
          ccx-proxy keys show ID [--json]
          ccx-proxy keys revoke ID
          ccx-proxy keys set-limits ID [--clear] [--rpm N|none] [--input-tpm N|none] [--output-tpm N|none]
                                [--concurrency N|none] [--quota N|none] [--quota-period total|day|month] [--json]
          ID is a key's 12-character id, or any unique prefix of it of at least 6 characters.
          Keys live in Redis: set Redis:Configuration (appsettings.json, Redis__Configuration,
          or --Redis:Configuration=host:6379).

        """;

    public const string NoRedisMessage =
        "keys are kept in memory by a running gateway when Redis is not configured; configure Redis:Configuration to manage keys from the CLI";

    private const int MaxLabelLength = 200;

    private static readonly string[] LimitOptions = ["rpm", "input-tpm", "output-tpm", "concurrency", "quota", "quota-period"];

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex GroupPattern();

    [GeneratedRegex("^([0-9]{1,5})([dh])$", RegexOptions.CultureInvariant)]
    private static partial Regex RelativeTimePattern();

    public static async Task<int> RunAsync(string[] args, CliContext context)
    {
        if (args.Length == 0 || (args.Length == 1 && CliApp.WantsHelp(args)) || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            if (!CliApp.WantsHelp(args))
            {
                return await CliApp.UsageAsync(context, "keys needs a command", UsageText).ConfigureAwait(false);
            }

            await context.Out.WriteAsync(UsageText).ConfigureAwait(false);
            return CliApp.Ok;
        }

        if (CliApp.WantsHelp(args[1..]))
        {
            await context.Out.WriteAsync(UsageText).ConfigureAwait(false);
            return CliApp.Ok;
        }

        string[] valueOptions;
        string[] flags;
        int positionals;
        switch (args[0])
        {
            case "create":
                valueOptions = ["group", "label", "expires", .. LimitOptions];
                flags = ["json"];
                positionals = 0;
                break;
            case "list":
                valueOptions = [];
                flags = ["json"];
                positionals = 0;
                break;
            case "show":
                valueOptions = [];
                flags = ["json"];
                positionals = 1;
                break;
            case "revoke":
                valueOptions = [];
                flags = [];
                positionals = 1;
                break;
            case "set-limits":
                valueOptions = LimitOptions;
                flags = ["clear", "json"];
                positionals = 1;
                break;
            default:
                return await CliApp.UsageAsync(context, $"unknown keys command '{args[0]}'", UsageText).ConfigureAwait(false);
        }

        if (!CliArguments.TryParse(args[1..], valueOptions, flags, out var parsed, out var error))
        {
            return await CliApp.UsageAsync(context, $"keys {args[0]}: {error}", UsageText).ConfigureAwait(false);
        }

        if (parsed.Positionals.Count != positionals)
        {
            var message = positionals == 0
                ? $"keys {args[0]} takes no argument (got '{parsed.Positionals[0]}')"
                : $"keys {args[0]} needs one key ID";
            return await CliApp.UsageAsync(context, message, UsageText).ConfigureAwait(false);
        }

        var id = positionals == 1 ? parsed.Positionals[0] : null;
        if (id is not null && !KeyHashes.TryNormalizeId(id, out _))
        {
            return await CliApp.UsageAsync(context, $"'{id}' is not a key id: give the 12-character id (or a unique prefix of at least {KeyHashes.MinimumIdLength}) that 'keys list' shows", UsageText).ConfigureAwait(false);
        }

        // Check every argument before connecting, so a typo never waits on Redis.
        KeyRecord? template = null;
        if (args[0] == "create")
        {
            (template, error) = ParseCreate(parsed, context.Time.GetUtcNow());
            if (template is null)
            {
                return await CliApp.UsageAsync(context, $"keys create: {error}", UsageText).ConfigureAwait(false);
            }
        }
        else if (args[0] == "set-limits")
        {
            if (!parsed.Has("clear") && !LimitOptions.Any(parsed.Has))
            {
                return await CliApp.UsageAsync(context, "keys set-limits: give --clear or at least one limit", UsageText).ConfigureAwait(false);
            }

            if (ApplyLimits(CallerLimits.None, parsed, allowNone: true, lenientPeriod: true).Error is { } limitError)
            {
                return await CliApp.UsageAsync(context, $"keys set-limits: {limitError}", UsageText).ConfigureAwait(false);
            }
        }

        var configuration = CliApp.BuildConfiguration(context, parsed.ConfigurationArgs);
        var settings = configuration.GetSection(RedisSettings.Section).Get<RedisSettings>() ?? new RedisSettings();
        if (settings.Configuration is not { } redis || string.IsNullOrWhiteSpace(redis))
        {
            await context.Error.WriteLineAsync($"error: {NoRedisMessage}").ConfigureAwait(false);
            return CliApp.Usage;
        }

        using var connection = new RedisConnection(redis, NullLogger<RedisConnection>.Instance, settings.CaCertificate);
        var store = new RedisKeyStore(connection);
        using var timeout = new CancellationTokenSource(context.Timeout);
        var json = parsed.Has("json");
        try
        {
            return args[0] switch
            {
                "create" => await CreateAsync(store, template!, json, context, timeout.Token).ConfigureAwait(false),
                "list" => await ListAsync(store, json, context, timeout.Token).ConfigureAwait(false),
                "show" => await ShowAsync(store, id!, json, context, timeout.Token).ConfigureAwait(false),
                "revoke" => await RevokeAsync(store, id!, context, timeout.Token).ConfigureAwait(false),
                _ => await SetLimitsAsync(store, id!, parsed, json, context, timeout.Token).ConfigureAwait(false),
            };
        }
        catch (KeyStoreUnavailableException ex)
        {
            await context.Error.WriteLineAsync($"error: cannot reach Redis: {ex.Message}").ConfigureAwait(false);
            return CliApp.Failed;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            await context.Error.WriteLineAsync($"error: Redis did not answer within {context.Timeout.TotalSeconds:0} s").ConfigureAwait(false);
            return CliApp.Failed;
        }
        catch (InvalidDataException ex)
        {
            await context.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return CliApp.Failed;
        }
    }

    private static async Task<int> CreateAsync(IKeyStore store, KeyRecord template, bool json, CliContext context, CancellationToken ct)
    {
        // A collision of two 238-bit random keys will not happen; still, never overwrite a record.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var key = KeyHashes.NewKey();
            var record = template with { Hash = KeyHashes.Hex(key), Prefix = KeyHashes.PrefixOf(key) };
            if (!await store.CreateAsync(record, ct).ConfigureAwait(false))
            {
                continue;
            }

            var now = context.Time.GetUtcNow();
            if (json)
            {
                await context.Out.WriteLineAsync(KeyOutput.Json(record, now, key)).ConfigureAwait(false);
            }
            else
            {
                await context.Out.WriteLineAsync($"Created key {record.Id} in group {record.Group}. The key, shown only now (only its SHA-256 is stored):").ConfigureAwait(false);
                await context.Out.WriteLineAsync().ConfigureAwait(false);
                await context.Out.WriteLineAsync($"    {key}").ConfigureAwait(false);
                await context.Out.WriteLineAsync().ConfigureAwait(false);
                await context.Out.WriteAsync(KeyOutput.Details(record, now)).ConfigureAwait(false);
            }

            return CliApp.Ok;
        }

        await context.Error.WriteLineAsync("error: could not store a new key (hash collision three times?)").ConfigureAwait(false);
        return CliApp.Failed;
    }

    private static async Task<int> ListAsync(IKeyStore store, bool json, CliContext context, CancellationToken ct)
    {
        var records = await store.ListAsync(ct).ConfigureAwait(false);
        var now = context.Time.GetUtcNow();
        if (json)
        {
            await context.Out.WriteLineAsync(KeyOutput.JsonList(records, now)).ConfigureAwait(false);
        }
        else if (records.Count == 0)
        {
            await context.Out.WriteLineAsync("No keys. Create one with: ccx-proxy keys create --group NAME").ConfigureAwait(false);
        }
        else
        {
            await context.Out.WriteAsync(KeyOutput.Table(records, now)).ConfigureAwait(false);
        }

        return CliApp.Ok;
    }

    private static async Task<int> ShowAsync(IKeyStore store, string id, bool json, CliContext context, CancellationToken ct)
    {
        var record = await FindAsync(store, id, context, ct).ConfigureAwait(false);
        if (record is null)
        {
            return CliApp.Failed;
        }

        var now = context.Time.GetUtcNow();
        await (json
            ? context.Out.WriteLineAsync(KeyOutput.Json(record, now))
            : context.Out.WriteAsync(KeyOutput.Details(record, now))).ConfigureAwait(false);
        return CliApp.Ok;
    }

    private static async Task<int> RevokeAsync(IKeyStore store, string id, CliContext context, CancellationToken ct)
    {
        var record = await FindAsync(store, id, context, ct).ConfigureAwait(false);
        if (record is null)
        {
            return CliApp.Failed;
        }

        if (!record.Enabled)
        {
            await context.Out.WriteLineAsync($"Key {record.Id} ({record.Prefix}…, group {record.Group}) was already revoked.").ConfigureAwait(false);
            return CliApp.Ok;
        }

        if (!await store.UpdateAsync(record with { Enabled = false }, ct).ConfigureAwait(false))
        {
            await context.Error.WriteLineAsync($"error: key {record.Id} disappeared while revoking it").ConfigureAwait(false);
            return CliApp.Failed;
        }

        await context.Out.WriteLineAsync($"Revoked key {record.Id} ({record.Prefix}…, group {record.Group}). Every replica refuses it within 5 seconds.").ConfigureAwait(false);
        return CliApp.Ok;
    }

    private static async Task<int> SetLimitsAsync(IKeyStore store, string id, CliArguments parsed, bool json, CliContext context, CancellationToken ct)
    {
        var record = await FindAsync(store, id, context, ct).ConfigureAwait(false);
        if (record is null)
        {
            return CliApp.Failed;
        }

        var start = parsed.Has("clear") ? CallerLimits.None : record.Limits;
        var (limits, error) = ApplyLimits(start, parsed, allowNone: true);
        if (limits is null)
        {
            return await CliApp.UsageAsync(context, $"keys set-limits: {error}", UsageText).ConfigureAwait(false);
        }

        var updated = record with { Limits = limits };
        if (!await store.UpdateAsync(updated, ct).ConfigureAwait(false))
        {
            await context.Error.WriteLineAsync($"error: key {record.Id} disappeared while updating it").ConfigureAwait(false);
            return CliApp.Failed;
        }

        var now = context.Time.GetUtcNow();
        await (json
            ? context.Out.WriteLineAsync(KeyOutput.Json(updated, now))
            : context.Out.WriteLineAsync($"Limits of key {record.Id} are now: {CallerLimitsJson.Describe(limits)}. Every replica applies them within 5 seconds.")).ConfigureAwait(false);
        return CliApp.Ok;
    }

    /// <summary>The record for an id, or null after saying why (none, or several, match).</summary>
    private static async Task<KeyRecord?> FindAsync(IKeyStore store, string id, CliContext context, CancellationToken ct)
    {
        var record = await store.FindByIdAsync(id, ct).ConfigureAwait(false);
        if (record is not null)
        {
            return record;
        }

        KeyHashes.TryNormalizeId(id, out var normalized);
        var matches = (await store.ListAsync(ct).ConfigureAwait(false)).Count(r => r.Hash.StartsWith(normalized, StringComparison.Ordinal));
        await context.Error.WriteLineAsync(matches > 1
            ? $"error: id '{id}' is ambiguous: it matches {matches} keys; give more characters (the full id has 12)"
            : $"error: no key has id '{id}' (see 'ccx-proxy keys list')").ConfigureAwait(false);
        return null;
    }

    private static (KeyRecord? Record, string? Error) ParseCreate(CliArguments parsed, DateTimeOffset now)
    {
        var group = parsed.Value("group");
        if (group is null)
        {
            return (null, "--group is required");
        }

        if (!GroupPattern().IsMatch(group))
        {
            return (null, $"--group '{group}' is not a group name (1 to 64 letters, digits, '.', '_' or '-')");
        }

        var label = parsed.Value("label") ?? "";
        if (label.Length > MaxLabelLength || label.Any(char.IsControl))
        {
            return (null, $"--label must be at most {MaxLabelLength} characters, without control characters");
        }

        DateTimeOffset? expires = null;
        if (parsed.Value("expires") is { } expiresText)
        {
            if (!TryParseExpiry(expiresText, now, out var parsedExpiry))
            {
                return (null, $"--expires '{expiresText}' is neither a date (2027-01-01, 2027-01-01T12:00:00Z) nor a duration (30d, 12h)");
            }

            if (parsedExpiry <= now)
            {
                return (null, $"--expires '{expiresText}' is in the past");
            }

            expires = parsedExpiry;
        }

        var (limits, error) = ApplyLimits(CallerLimits.None, parsed, allowNone: false);
        if (limits is null)
        {
            return (null, error);
        }

        var record = new KeyRecord
        {
            // Replaced by the real hash and prefix once the key is generated.
            Hash = new string('0', 64),
            Prefix = "",
            Group = group,
            Label = label,
            CreatedAt = now,
            ExpiresAt = expires,
            Limits = limits,
        };
        return (record, null);
    }

    /// <summary><c>2027-01-01</c> (midnight UTC), an ISO 8601 instant, or <c>30d</c> / <c>12h</c> from now.</summary>
    internal static bool TryParseExpiry(string text, DateTimeOffset now, out DateTimeOffset expires)
    {
        if (RelativeTimePattern().Match(text) is { Success: true } relative)
        {
            var amount = int.Parse(relative.Groups[1].Value, CultureInfo.InvariantCulture);
            expires = now + (relative.Groups[2].Value == "d" ? TimeSpan.FromDays(amount) : TimeSpan.FromHours(amount));
            return true;
        }

        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            expires = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return true;
        }

        if (text.Contains('T', StringComparison.Ordinal)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out expires))
        {
            return true;
        }

        expires = default;
        return false;
    }

    /// <summary>Applies the limit options to <paramref name="limits"/>; <c>none</c> removes one limit when allowed.</summary>
    private static (CallerLimits? Limits, string? Error) ApplyLimits(CallerLimits limits, CliArguments parsed, bool allowNone, bool lenientPeriod = false)
    {
        string? error = null;

        bool TryNumber(string option, long max, out long? value, out bool given)
        {
            value = null;
            given = parsed.Has(option);
            if (!given)
            {
                return true;
            }

            var text = parsed.Value(option)!;
            if (allowNone && text == "none")
            {
                return true;
            }

            if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= 1 && number <= max)
            {
                value = number;
                return true;
            }

            error = $"--{option} must be a whole number from 1 to {max}{(allowNone ? ", or none" : "")} (got '{text}')";
            return false;
        }

        if (!TryNumber("rpm", int.MaxValue, out var rpm, out var rpmGiven)
            || !TryNumber("input-tpm", long.MaxValue, out var input, out var inputGiven)
            || !TryNumber("output-tpm", long.MaxValue, out var output, out var outputGiven)
            || !TryNumber("concurrency", int.MaxValue, out var concurrency, out var concurrencyGiven)
            || !TryNumber("quota", long.MaxValue, out var quotaTokens, out var quotaGiven))
        {
            return (null, error);
        }

        var result = limits with
        {
            RequestsPerMinute = rpmGiven ? (int?)rpm : limits.RequestsPerMinute,
            InputTokensPerMinute = inputGiven ? input : limits.InputTokensPerMinute,
            OutputTokensPerMinute = outputGiven ? output : limits.OutputTokensPerMinute,
            Concurrency = concurrencyGiven ? (int?)concurrency : limits.Concurrency,
        };

        var periodText = parsed.Value("quota-period");
        QuotaPeriod? period = null;
        if (periodText is not null)
        {
            if (!CallerLimitsJson.TryParsePeriod(periodText, out var parsedPeriod))
            {
                return (null, $"--quota-period must be total, day or month (got '{periodText}')");
            }

            period = parsedPeriod;
        }

        if (quotaGiven)
        {
            result = result with { Quota = quotaTokens is { } tokens ? new TokenQuota(tokens, period ?? result.Quota?.Period ?? QuotaPeriod.Total) : null };
        }
        else if (period is { } newPeriod)
        {
            if (result.Quota is not null)
            {
                result = result with { Quota = result.Quota with { Period = newPeriod } };
            }
            else if (!lenientPeriod)
            {
                return (null, "--quota-period needs --quota (or a key that already has a quota)");
            }
        }

        return (result.IsEmpty ? CallerLimits.None : result, null);
    }
}
