using CcxProxy.Transforms.Conversion;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// How to turn the upstream's answer into the client's, for one protocol pair: one function per kind of
/// answer. The host builds it when it picks the channel.
/// </summary>
public sealed class ResponsePlan
{
    /// <summary>An upstream error (status ≥ 400, body read whole) as the client should see it.</summary>
    public required Func<int, ReadOnlyMemory<byte>, (int Status, byte[] Body)> MapError { get; init; }

    /// <summary>A non-streamed JSON answer (already checked to be one JSON object) in the client's protocol.</summary>
    public required Func<ReadOnlyMemory<byte>, ReadOnlyMemory<byte>> ConvertJson { get; init; }

    /// <summary>A new stream converter for a streamed answer.</summary>
    public required Func<IStreamConverter> CreateStreamConverter { get; init; }

    /// <summary>The content type of a streamed answer; null for Server-Sent Events (a Gemini JSON-array stream is JSON).</summary>
    public string? StreamContentType { get; init; }
}
