using System.Buffers;
using System.Runtime.InteropServices;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>A stored answer turned into the client's answer, whole, ready to write.</summary>
/// <param name="IsStream">True for an event stream, false for a JSON body.</param>
/// <param name="Body">The bytes to send.</param>
/// <param name="Usage">The usage the answer reports (what it cost when it was first answered).</param>
public sealed record ReplayedAnswer(bool IsStream, ReadOnlyMemory<byte> Body, StreamUsage? Usage);

/// <summary>
/// Turns a <see cref="StoredAnswer"/> into the client's protocol through the call's own <see cref="ResponsePlan"/>,
/// exactly as the relay would have converted it from the upstream: a JSON answer through
/// <see cref="ResponsePlan.ConvertJson"/>, a stream event by event through a new stream converter, so a cached
/// stream is a valid stream in the caller's protocol, reporting the caller's model name. Built whole in memory
/// (the entry is bounded) so that nothing is sent unless the whole answer could be rebuilt.
/// </summary>
public static class ResponseReplay
{
    /// <summary>The client's answer, or null when the stored entry is not a complete answer of the call's upstream protocol.</summary>
    public static async ValueTask<ReplayedAnswer?> RenderAsync(StoredAnswer stored, UpstreamCall call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stored);
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            if (!stored.IsStream)
            {
                if (!RequestJson.IsJsonObject(stored.Body.Span))
                {
                    return null;
                }

                var converted = call.Plan.ConvertJson(stored.Body).Body;
                return new ReplayedAnswer(false, converted, UsageReader.Read(call.WireProtocol, converted.Span));
            }

            var converter = call.Plan.CreateStreamConverter();
            var output = new ArrayBufferWriter<byte>(stored.Body.Length + 1024);
            converter.Begin(output);
            using var body = MemoryMarshal.TryGetArray(stored.Body, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(stored.Body.ToArray(), writable: false);
            var reader = new SseReader(body);
            await using (reader.ConfigureAwait(false))
            {
                while (!converter.Finished && await reader.ReadAsync(cancellationToken).ConfigureAwait(false) is { } item)
                {
                    converter.Convert(item, output);
                }
            }

            // A stored stream ended properly, so the converter finishes it; anything else is not an answer to replay.
            var complete = converter.Finished || converter.End(output);
            return complete ? new ReplayedAnswer(true, output.WrittenMemory, converter.Usage) : null;
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidOperationException or FormatException or KeyNotFoundException or SseFormatException)
        {
            return null;
        }
    }
}
