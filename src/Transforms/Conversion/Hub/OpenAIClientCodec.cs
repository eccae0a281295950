using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// The client codec of an OpenAI-family protocol (Chat Completions, legacy Completions, Responses), made of that
/// protocol's three conversions; errors come back in OpenAI's shape. Each protocol's folder builds its own
/// (<c>ChatClient.Codec</c>, <c>CompletionsToMessages.Codec</c>, <c>ResponsesClient.Codec</c>).
/// </summary>
/// <param name="toMessages">The client's request → a Messages request.</param>
/// <param name="fromMessages">An Anthropic message → the client's answer.</param>
/// <param name="streamFromMessages">A converter from Anthropic SSE to the client's stream.</param>
public sealed class OpenAIClientCodec(OpenAIClientCodec.RequestConversion toMessages, OpenAIClientCodec.AnswerConversion fromMessages,
    Func<ConversionContext, IStreamConverter> streamFromMessages) : IClientCodec
{
    /// <summary>A request conversion to Messages.</summary>
    /// <param name="request">The client's body.</param>
    /// <param name="options">The channel's choices.</param>
    public delegate GatewayResult<ConvertedRequest> RequestConversion(ReadOnlySpan<byte> request, ConversionOptions options);

    /// <summary>An answer conversion from Messages.</summary>
    /// <param name="message">The Anthropic message.</param>
    /// <param name="context">The request's conversion context.</param>
    public delegate byte[] AnswerConversion(ReadOnlySpan<byte> message, ConversionContext context);

    /// <inheritdoc/>
    public WireProtocol Protocol => WireProtocol.OpenAI;

    /// <inheritdoc/>
    public GatewayResult<ConvertedRequest> ToMessages(ReadOnlySpan<byte> request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return toMessages(request, context.Options);
    }

    /// <inheritdoc/>
    public byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return fromMessages(message, context);
    }

    /// <inheritdoc/>
    public IStreamConverter StreamFromMessages(ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return streamFromMessages(context);
    }

    /// <inheritdoc/>
    public (int Status, byte[] Body) ErrorFromMessages(int status, ReadOnlySpan<byte> anthropicError, ConversionContext context) =>
        ErrorMapping.AnthropicToOpenAI(status, anthropicError);
}
