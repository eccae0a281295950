using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>OpenAI Chat Completions clients (<c>POST /v1/chat/completions</c>) served through Messages: <see cref="ChatClient"/>'s conversions.</summary>
public sealed class ChatClientCodec : IClientCodec
{
    private ChatClientCodec()
    {
    }

    /// <summary>The one instance (the codec holds no state).</summary>
    public static ChatClientCodec Instance { get; } = new();

    /// <inheritdoc/>
    public WireProtocol Protocol => WireProtocol.OpenAI;

    /// <inheritdoc/>
    public GatewayResult<ConvertedRequest> ToMessages(ReadOnlySpan<byte> request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatClient.ConvertRequest(request, context.Options);
    }

    /// <inheritdoc/>
    public byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatClient.ConvertResponse(message, context.ClientModel, context.Time);
    }

    /// <inheritdoc/>
    public IStreamConverter StreamFromMessages(ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatClient.CreateStreamConverter(context.ClientModel, context.IncludeUsage, context.Time);
    }

    /// <inheritdoc/>
    public (int Status, byte[] Body) ErrorFromMessages(int status, ReadOnlySpan<byte> anthropicError, ConversionContext context) =>
        ErrorMapping.AnthropicToOpenAI(status, anthropicError);
}
