using System.Buffers;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>An upstream answer as the response cache keeps it: in the upstream's protocol, before any conversion.</summary>
/// <param name="IsStream">True for a stream (<paramref name="Body"/> is its events as SSE text), false for a JSON answer.</param>
/// <param name="Body">The JSON body, or the stream's events (keep-alives left out).</param>
public sealed record StoredAnswer(bool IsStream, ReadOnlyMemory<byte> Body);

/// <summary>
/// Records one attempt's upstream answer as the relay passes it on, for the response cache: the JSON body, or
/// every event of a stream, up to <see cref="MaxBytes"/>. The relay fills it; the host decides afterwards whether
/// the attempt ended in a complete answer worth keeping (<see cref="Completed"/>). One per attempt.
/// </summary>
public sealed class ResponseCapture
{
    private ReadOnlyMemory<byte> _json;
    private ArrayBufferWriter<byte>? _events;
    private bool _isStream;

    /// <summary>Records answers of up to <paramref name="maxBytes"/> bytes.</summary>
    public ResponseCapture(int maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        MaxBytes = maxBytes;
    }

    /// <summary>The largest answer recorded; a larger one is dropped as soon as it is seen to be larger.</summary>
    public int MaxBytes { get; }

    /// <summary>True when the answer was larger than <see cref="MaxBytes"/> (nothing is held then).</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Set by the host when the attempt ended in a complete, successful answer (HTTP 200, no error, not cut).</summary>
    public bool Completed { get; set; }

    /// <summary>The recorded answer, or null when there is none to keep (not completed, too large, or nothing seen).</summary>
    public StoredAnswer? Answer =>
        !Completed || Overflowed ? null
        : _isStream ? (_events is { WrittenCount: > 0 } events ? new StoredAnswer(true, events.WrittenMemory) : null)
        : _json.IsEmpty ? null : new StoredAnswer(false, _json);

    /// <summary>
    /// A JSON answer, whole (the memory is kept, not copied: it must not be reused). An error some hosts send with
    /// HTTP 200 (a top-level <c>error</c>, <c>"type":"error"</c>, or a choice that finished with <c>"error"</c>) is
    /// never kept.
    /// </summary>
    internal void Json(ReadOnlyMemory<byte> body)
    {
        if (body.Length > MaxBytes)
        {
            Overflowed = true;
            return;
        }

        if (!IsErrorAnswer(body.Span))
        {
            _json = body;
        }
    }

    private static bool IsErrorAnswer(ReadOnlySpan<byte> json)
    {
        if (json.IndexOf("\"finish_reason\":\"error\""u8) >= 0)
        {
            return true;
        }

        var reader = new System.Text.Json.Utf8JsonReader(json);
        if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartObject)
        {
            return true;
        }

        while (reader.Read() && reader.TokenType == System.Text.Json.JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("error"u8))
            {
                return true;
            }

            var isType = reader.ValueTextEquals("type"u8);
            reader.Read();
            if (isType && reader.TokenType == System.Text.Json.JsonTokenType.String && reader.ValueTextEquals("error"u8))
            {
                return true;
            }

            reader.Skip();
        }

        return false;
    }

    /// <summary>One event of a streamed answer. Comments and pings are keep-alives, not the answer.</summary>
    internal void Event(in SseEvent item)
    {
        _isStream = true;
        if (Overflowed || item.IsComment || item.EventType == "ping")
        {
            return;
        }

        _events ??= new ArrayBufferWriter<byte>(Math.Min(MaxBytes, 16 * 1024));
        SseWriter.WriteEvent(_events, item.EventType, item.DataUtf8.Span);
        if (_events.WrittenCount > MaxBytes)
        {
            Overflowed = true;
            _events = null;
        }
    }
}
