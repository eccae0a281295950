using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>An OpenAI Chat Completions upstream (channel type <c>openai</c>) reached through Messages: <see cref="ChatUpstream"/>'s conversions.</summary>
public sealed class ChatUpstreamCodec : IUpstreamCodec
{
    /// <summary>The path under an OpenAI base URL, which carries its version segment (https://api.deepseek.com/v1), as the OpenAI SDK takes it.</summary>
    public const string ChatPath = "/chat/completions";

    private ChatUpstreamCodec()
    {
    }

    /// <summary>The one instance (the codec holds no state).</summary>
    public static ChatUpstreamCodec Instance { get; } = new();

    /// <inheritdoc/>
    public WireProtocol Protocol => WireProtocol.OpenAI;

    /// <inheritdoc/>
    public string Path(ConversionContext context, bool stream) => ChatPath;

    /// <inheritdoc/>
    public GatewayResult<ConvertedRequest> FromMessages(ReadOnlySpan<byte> messagesRequest, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatUpstream.ConvertRequest(messagesRequest, context.Options);
    }

    /// <inheritdoc/>
    public byte[] AnswerToMessages(ReadOnlySpan<byte> answer, ToolNameMap toolNames, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatUpstream.ConvertResponse(answer, context.ClientModel, toolNames);
    }

    /// <inheritdoc/>
    public IStreamConverter StreamToMessages(ToolNameMap toolNames, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ChatUpstream.CreateStreamConverter(context.ClientModel, toolNames, context.InputTokens());
    }

    /// <inheritdoc/>
    public (int Status, byte[] Body) ErrorToMessages(int status, ReadOnlySpan<byte> error, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ErrorMapping.UpstreamToAnthropic(status, error, context.RequestId);
    }
}
