using System.Buffers;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Transforms.Conversion;

/// <summary>
/// Converts one upstream stream into the client's protocol, event by event, as a state machine over the
/// upstream's SSE events. One instance per response, used by one thread. Every method writes complete
/// SSE frames (zero or more) to <c>output</c>; the caller flushes after each call.
/// </summary>
public interface IStreamConverter
{
    /// <summary>True once the client's terminal frame (<c>message_stop</c>, or <c>data: [DONE]</c>) or an error frame was written.</summary>
    bool Finished { get; }

    /// <summary>Token counts seen so far, in Anthropic's terms (input excludes cached tokens).</summary>
    StreamUsage Usage { get; }

    /// <summary>The upstream answered with a stream: write what the client should see at once (e.g. <c>message_start</c>).</summary>
    void Begin(IBufferWriter<byte> output);

    /// <summary>Converts one upstream event (comments included; ignore them unless they mean something).</summary>
    void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output);

    /// <summary>
    /// The upstream stream ended (EOF). Finish properly if the upstream had finished its answer (a finish
    /// reason, <c>[DONE]</c>, <c>message_stop</c>); otherwise write an error frame: never a fake success.
    /// </summary>
    /// <returns>True when the answer was complete (finished properly, or already finished); false when it was cut.</returns>
    bool End(IBufferWriter<byte> output);

    /// <summary>A gateway-side failure mid-stream (upstream cut, idle timeout): write an error frame in the client's protocol.</summary>
    void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output);

    /// <summary>A keep-alive while the upstream is silent: <c>event: ping</c> for Anthropic clients, a comment for OpenAI clients.</summary>
    void Ping(IBufferWriter<byte> output);
}

/// <summary>Token counts of one answer, in Anthropic's terms.</summary>
public sealed class StreamUsage
{
    /// <summary>Input tokens not read from or written to a cache.</summary>
    public long InputTokens { get; set; }

    /// <summary>Output tokens (reasoning included).</summary>
    public long OutputTokens { get; set; }

    /// <summary>Input tokens read from a prompt cache.</summary>
    public long CacheReadInputTokens { get; set; }

    /// <summary>Input tokens written to a prompt cache.</summary>
    public long CacheCreationInputTokens { get; set; }
}
