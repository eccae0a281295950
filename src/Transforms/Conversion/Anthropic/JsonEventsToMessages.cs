using System.Buffers;

namespace CcxProxy.Transforms.Conversion.Anthropic;

/// <summary>
/// A converter from an upstream whose events are JSON objects (OpenAI Responses, Gemini) to Anthropic SSE: it
/// writes through <see cref="Writer"/>, one content block open at a time, and calls <see cref="Finish"/> at the
/// upstream's end; errors are Anthropic <c>error</c> events and keep-alives <c>ping</c> events.
/// </summary>
/// <param name="clientModel">The model the client asked for.</param>
/// <param name="estimatedInputTokens">The input tokens announced in <c>message_start</c>.</param>
/// <param name="unfinished">What the client is told when the upstream's stream ends before its finish.</param>
internal abstract class JsonEventsToMessages(string clientModel, long estimatedInputTokens, string unfinished) : JsonEventStream(unfinished)
{
    /// <summary>Writes the Anthropic events.</summary>
    protected AnthropicStreamWriter Writer { get; } = new(clientModel, estimatedInputTokens);

    /// <summary>Ends the message: <c>message_delta</c> with <paramref name="stopReason"/> and <see cref="JsonEventStream.Usage"/>, then <c>message_stop</c>.</summary>
    protected void Finish(string stopReason, IBufferWriter<byte> output)
    {
        Writer.Finish(stopReason, Usage, output);
        Finished = true;
    }

    protected override void WriteError(string anthropicErrorType, string message, IBufferWriter<byte> output) =>
        StreamFrames.AnthropicError(output, anthropicErrorType, message);

    protected override void WritePing(IBufferWriter<byte> output) => StreamFrames.AnthropicPing(output);
}
