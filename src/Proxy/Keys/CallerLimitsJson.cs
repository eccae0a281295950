using System.Buffers;
using System.Text;
using System.Text.Json;

namespace CcxProxy.Keys;

/// <summary>
/// <see cref="CallerLimits"/> as compact JSON, with the field names <c>groups.json</c> uses
/// (<c>{"requestsPerMinute":60,"quota":{"tokens":1000000,"period":"day"}}</c>); unset limits are left out,
/// so no limits is <c>{}</c>. Hand-written rather than reflection-based so the stored shape is explicit.
/// </summary>
internal static class CallerLimitsJson
{
    /// <summary>Field names.</summary>
    public const string RequestsPerMinute = "requestsPerMinute";

    /// <summary>Field names.</summary>
    public const string InputTokensPerMinute = "inputTokensPerMinute";

    /// <summary>Field names.</summary>
    public const string OutputTokensPerMinute = "outputTokensPerMinute";

    /// <summary>Field names.</summary>
    public const string Concurrency = "concurrency";

    /// <summary>Field names.</summary>
    public const string Quota = "quota";

    /// <summary>The compact JSON text.</summary>
    public static string Serialize(CallerLimits limits)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, limits);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes the limits as one JSON object.</summary>
    public static void Write(Utf8JsonWriter writer, CallerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(limits);
        writer.WriteStartObject();
        if (limits.RequestsPerMinute is { } rpm)
        {
            writer.WriteNumber(RequestsPerMinute, rpm);
        }

        if (limits.InputTokensPerMinute is { } input)
        {
            writer.WriteNumber(InputTokensPerMinute, input);
        }

        if (limits.OutputTokensPerMinute is { } output)
        {
            writer.WriteNumber(OutputTokensPerMinute, output);
        }

        if (limits.Concurrency is { } concurrency)
        {
            writer.WriteNumber(Concurrency, concurrency);
        }

        if (limits.Quota is { } quota)
        {
            writer.WriteStartObject(Quota);
            writer.WriteNumber("tokens", quota.Tokens);
            writer.WriteString("period", PeriodName(quota.Period));
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    /// <summary>Reads what <see cref="Serialize"/> wrote; unknown fields are ignored (a newer writer may add some).</summary>
    /// <exception cref="FormatException">The text is not a limits object.</exception>
    public static CallerLimits Deserialize(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return CallerLimits.None;
        }

        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("stored limits are not a JSON object");
            }

            var limits = new CallerLimits
            {
                RequestsPerMinute = root.TryGetProperty(RequestsPerMinute, out var rpm) ? rpm.GetInt32() : null,
                InputTokensPerMinute = root.TryGetProperty(InputTokensPerMinute, out var input) ? input.GetInt64() : null,
                OutputTokensPerMinute = root.TryGetProperty(OutputTokensPerMinute, out var output) ? output.GetInt64() : null,
                Concurrency = root.TryGetProperty(Concurrency, out var concurrency) ? concurrency.GetInt32() : null,
                Quota = root.TryGetProperty(Quota, out var quota)
                    ? new TokenQuota(quota.GetProperty("tokens").GetInt64(), ParsePeriod(quota.GetProperty("period").GetString()))
                    : null,
            };
            return limits.IsEmpty ? CallerLimits.None : limits;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new FormatException("stored limits are not valid", ex);
        }
    }

    /// <summary>The lower-case name of a period: <c>total</c>, <c>day</c>, <c>month</c>.</summary>
    public static string PeriodName(QuotaPeriod period) => period switch
    {
        QuotaPeriod.Total => "total",
        QuotaPeriod.Day => "day",
        QuotaPeriod.Month => "month",
        _ => throw new ArgumentOutOfRangeException(nameof(period), period, null),
    };

    /// <summary>Parses <c>total</c>, <c>day</c> or <c>month</c> (any case).</summary>
    /// <exception cref="FormatException">Any other text.</exception>
    public static QuotaPeriod ParsePeriod(string? name) => TryParsePeriod(name, out var period)
        ? period
        : throw new FormatException($"unknown quota period '{name}'");

    /// <summary>Parses <c>total</c>, <c>day</c> or <c>month</c> (any case).</summary>
    public static bool TryParsePeriod(string? name, out QuotaPeriod period)
    {
        switch (name?.ToLowerInvariant())
        {
            case "total":
                period = QuotaPeriod.Total;
                return true;
            case "day":
                period = QuotaPeriod.Day;
                return true;
            case "month":
                period = QuotaPeriod.Month;
                return true;
            default:
                period = default;
                return false;
        }
    }

    /// <summary>A short human form: <c>rpm=60 input-tpm=100000 quota=1000000/day</c>, or <c>-</c> when none.</summary>
    public static string Describe(CallerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var parts = new List<string>(5);
        if (limits.RequestsPerMinute is { } rpm)
        {
            parts.Add(FormattableString.Invariant($"rpm={rpm}"));
        }

        if (limits.InputTokensPerMinute is { } input)
        {
            parts.Add(FormattableString.Invariant($"input-tpm={input}"));
        }

        if (limits.OutputTokensPerMinute is { } output)
        {
            parts.Add(FormattableString.Invariant($"output-tpm={output}"));
        }

        if (limits.Concurrency is { } concurrency)
        {
            parts.Add(FormattableString.Invariant($"concurrency={concurrency}"));
        }

        if (limits.Quota is { } quota)
        {
            parts.Add(FormattableString.Invariant($"quota={quota.Tokens}/{PeriodName(quota.Period)}"));
        }

        return parts.Count == 0 ? "-" : string.Join(' ', parts);
    }
}
