using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// An upstream protocol other than Anthropic Messages, reached through Messages (the hub): a Messages request
/// becomes its request, and its answer, stream or error becomes Messages. One per channel type, in that
/// protocol's folder; <see cref="ConversionTable"/> chains it to any client. Implementations are stateless.
/// </summary>
public interface IUpstreamCodec
{
    /// <summary>The channel type this codec speaks to.</summary>
    WireProtocol Protocol { get; }

    /// <summary>The path appended to the channel's base URL.</summary>
    /// <param name="context">The request's conversion context (the upstream model, for protocols that put it in the path).</param>
    /// <param name="stream">True when the client asked for a stream.</param>
    string Path(ConversionContext context, bool stream);

    /// <summary>A Messages request → the upstream's request, or the 400 that says why it cannot be made.</summary>
    /// <param name="messagesRequest">The Messages request (the client's, or one a client codec made).</param>
    /// <param name="context">The request's conversion context.</param>
    GatewayResult<ConvertedRequest> FromMessages(ReadOnlySpan<byte> messagesRequest, ConversionContext context);

    /// <summary>The upstream's answer → an Anthropic <c>message</c> (or an Anthropic error body for an answer that is not one).</summary>
    /// <param name="answer">The upstream's 200 body.</param>
    /// <param name="toolNames">How the request changed tool names, to change them back.</param>
    /// <param name="context">The request's conversion context.</param>
    byte[] AnswerToMessages(ReadOnlySpan<byte> answer, ToolNameMap toolNames, ConversionContext context);

    /// <summary>A converter from the upstream's stream to an Anthropic SSE stream.</summary>
    /// <param name="toolNames">How the request changed tool names, to change them back.</param>
    /// <param name="context">The request's conversion context.</param>
    IStreamConverter StreamToMessages(ToolNameMap toolNames, ConversionContext context);

    /// <summary>The upstream's error → Anthropic's shape.</summary>
    /// <param name="status">The upstream's HTTP status.</param>
    /// <param name="error">The upstream's error body.</param>
    /// <param name="context">The request's conversion context.</param>
    (int Status, byte[] Body) ErrorToMessages(int status, ReadOnlySpan<byte> error, ConversionContext context);
}
