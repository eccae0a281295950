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
    public required Func<ReadOnlyMemory<byte>, ConvertedAnswer> ConvertJson { get; init; }

    /// <summary>A new stream converter for a streamed answer.</summary>
    public required Func<IStreamConverter> CreateStreamConverter { get; init; }

    /// <summary>The content type of a streamed answer; null for Server-Sent Events (a Gemini JSON-array stream is JSON).</summary>
    public string? StreamContentType { get; init; }
}

/// <summary>
/// A non-streamed answer in the client's protocol, and whether it tells of a failure the upstream answered under 200
/// (an OpenAI <c>error</c> object, a failed Responses object, a Gemini turn that broke off), which the converter
/// turned into the client's error object. Such an answer goes to the client with 502, never under 200.
/// </summary>
/// <param name="Body">The answer, UTF-8 JSON.</param>
/// <param name="UpstreamFailed">True when <paramref name="Body"/> is the client's error object for such a failure.</param>
public readonly record struct ConvertedAnswer(ReadOnlyMemory<byte> Body, bool UpstreamFailed = false)
{
    /// <summary>An answer that is one.</summary>
    public static implicit operator ConvertedAnswer(ReadOnlyMemory<byte> body) => new(body);

    /// <summary>An answer that is one.</summary>
    public static implicit operator ConvertedAnswer(byte[] body) => new(body);
}
