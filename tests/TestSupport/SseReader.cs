using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>One server-sent event as a test sees it.</summary>
/// <param name="Event">The <c>event:</c> name, or null for a data-only frame.</param>
/// <param name="Data">The <c>data:</c> lines joined with <c>\n</c>.</param>
public sealed record SseFrame(string? Event, string Data)
{
    /// <summary>The data parsed as JSON, or null when it is not JSON (e.g. <c>[DONE]</c>).</summary>
    public JsonNode? Json { get; } = Parse(Data);

    private static JsonNode? Parse(string data)
    {
        try
        {
            return data.Length == 0 ? null : JsonNode.Parse(data);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// Reads an SSE response body frame by frame as it arrives, for tests that check what a client
/// receives. Follows the WHATWG event-stream rules that matter here: CR, LF or CRLF line ends,
/// comment lines ignored, one optional space after the colon, a frame ends at a blank line or at
/// the end of the stream.
/// </summary>
public static class SseReader
{
    /// <summary>Yields each frame as soon as its blank line arrives.</summary>
    /// <param name="stream">The response body.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The frames.</returns>
    public static async IAsyncEnumerable<SseFrame> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, leaveOpen: true);
        string? eventName = null;
        var data = new List<string>();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.Length == 0)
            {
                if (eventName is not null || data.Count > 0)
                {
                    yield return new SseFrame(eventName, string.Join('\n', data));
                }

                eventName = null;
                data.Clear();
                continue;
            }

            if (line[0] == ':')
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
            {
                value = value[1..];
            }

            if (field == "event")
            {
                eventName = value;
            }
            else if (field == "data")
            {
                data.Add(value);
            }
        }

        if (eventName is not null || data.Count > 0)
        {
            yield return new SseFrame(eventName, string.Join('\n', data));
        }
    }

    /// <summary>Reads every frame until the stream ends.</summary>
    /// <param name="stream">The response body.</param>
    /// <param name="ct">Cancels the read.</param>
    /// <returns>The frames in order.</returns>
    public static async Task<IReadOnlyList<SseFrame>> ReadAllAsync(Stream stream, CancellationToken ct = default)
    {
        var frames = new List<SseFrame>();
        await foreach (var frame in ReadAsync(stream, ct))
        {
            frames.Add(frame);
        }

        return frames;
    }
}
