using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CcxProxy.Keys;

namespace CcxProxy.Cli;

/// <summary>How key records are printed: never the key, never the full hash; the id and prefix name it.</summary>
internal static class KeyOutput
{
    /// <summary><c>active</c>, <c>revoked</c> or <c>expired</c>.</summary>
    public static string Status(KeyRecord record, DateTimeOffset now) => KeyDirectory.Classify(record, now).Status switch
    {
        KeyLookupStatus.Revoked => "revoked",
        KeyLookupStatus.Expired => "expired",
        _ => "active",
    };

    /// <summary>An instant as <c>2026-11-22T10:00:00Z</c>.</summary>
    public static string Time(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>One field per line.</summary>
    public static string Details(KeyRecord record, DateTimeOffset now)
    {
        var text = new StringBuilder();
        void Line(string name, string value) => text.Append(CultureInfo.InvariantCulture, $"{name,-9}{value}\n");
        Line("id", record.Id);
        Line("prefix", record.Prefix);
        Line("group", record.Group);
        Line("label", record.Label.Length > 0 ? record.Label : "-");
        Line("created", Time(record.CreatedAt));
        Line("expires", record.ExpiresAt is { } expires ? Time(expires) : "never");
        Line("enabled", record.Enabled ? "yes" : "no");
        Line("status", Status(record, now));
        Line("limits", CallerLimitsJson.Describe(record.Limits));
        return text.ToString();
    }

    /// <summary>A table with a header row, columns padded to their widest value.</summary>
    public static string Table(IReadOnlyList<KeyRecord> records, DateTimeOffset now)
    {
        string[] header = ["ID", "PREFIX", "GROUP", "LABEL", "CREATED", "EXPIRES", "ENABLED", "LIMITS"];
        var rows = new List<string[]> { header };
        rows.AddRange(records.Select(r => new[]
        {
            r.Id,
            r.Prefix,
            r.Group,
            r.Label.Length > 0 ? r.Label : "-",
            Time(r.CreatedAt),
            r.ExpiresAt is { } expires ? Time(expires) + (expires <= now ? " (expired)" : "") : "never",
            r.Enabled ? "yes" : "no",
            CallerLimitsJson.Describe(r.Limits),
        }));

        var widths = Enumerable.Range(0, header.Length).Select(c => rows.Max(row => row[c].Length)).ToArray();
        var text = new StringBuilder();
        foreach (var row in rows)
        {
            for (var c = 0; c < row.Length; c++)
            {
                text.Append(c == row.Length - 1 ? row[c] : row[c].PadRight(widths[c] + 2));
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    /// <summary>One record as a JSON object; <paramref name="key"/> only from <c>keys create</c>.</summary>
    public static string Json(KeyRecord record, DateTimeOffset now, string? key = null) =>
        Write(writer => WriteRecord(writer, record, now, key));

    /// <summary>A JSON array of records.</summary>
    public static string JsonList(IReadOnlyList<KeyRecord> records, DateTimeOffset now) => Write(writer =>
    {
        writer.WriteStartArray();
        foreach (var record in records)
        {
            WriteRecord(writer, record, now, key: null);
        }

        writer.WriteEndArray();
    });

    private static string Write(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteRecord(Utf8JsonWriter writer, KeyRecord record, DateTimeOffset now, string? key)
    {
        writer.WriteStartObject();
        if (key is not null)
        {
            writer.WriteString("key", key);
        }

        writer.WriteString("id", record.Id);
        writer.WriteString("prefix", record.Prefix);
        writer.WriteString("group", record.Group);
        writer.WriteString("label", record.Label);
        writer.WriteString("createdAt", Time(record.CreatedAt));
        if (record.ExpiresAt is { } expires)
        {
            writer.WriteString("expiresAt", Time(expires));
        }
        else
        {
            writer.WriteNull("expiresAt");
        }

        writer.WriteBoolean("enabled", record.Enabled);
        writer.WriteString("status", Status(record, now));
        writer.WritePropertyName("limits");
        CallerLimitsJson.Write(writer, record.Limits);
        writer.WriteEndObject();
    }
}
