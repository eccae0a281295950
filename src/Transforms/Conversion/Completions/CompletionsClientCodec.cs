using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Completions;

/// <summary>Legacy Completions clients (<c>POST /v1/completions</c>) served through Messages: <see cref="CompletionsToMessages"/>'s conversions.</summary>
public sealed class CompletionsClientCodec : IClientCodec
{
    private CompletionsClientCodec()
    {
    }

    /// <summary>The one instance (the codec holds no state).</summary>
    public static CompletionsClientCodec Instance { get; } = new();

    /// <inheritdoc/>
    public WireProtocol Protocol => WireProtocol.OpenAI;

    /// <inheritdoc/>
    public GatewayResult<ConvertedRequest> ToMessages(ReadOnlySpan<byte> request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return CompletionsToMessages.ConvertRequest(request, context.Options);
    }

    /// <inheritdoc/>
    public byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return CompletionsToMessages.ConvertResponse(message, context.ClientModel, context.Time);
    }

    /// <inheritdoc/>
    public IStreamConverter StreamFromMessages(ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return CompletionsToMessages.CreateStreamConverter(context.ClientModel, context.IncludeUsage, context.Time);
    }

    /// <inheritdoc/>
    public (int Status, byte[] Body) ErrorFromMessages(int status, ReadOnlySpan<byte> anthropicError, ConversionContext context) =>
        ErrorMapping.AnthropicToOpenAI(status, anthropicError);
}
