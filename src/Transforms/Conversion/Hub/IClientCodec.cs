using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// A client protocol other than Anthropic Messages, served through Messages (the hub): its request becomes a
/// Messages request, and a Messages answer, stream or error becomes its own. One per client protocol, in that
/// protocol's folder; <see cref="ConversionTable"/> chains it to any upstream. Implementations are stateless.
/// </summary>
public interface IClientCodec
{
    /// <summary>The protocol the client reads (its answers' and errors' shape).</summary>
    WireProtocol Protocol { get; }

    /// <summary>The client's request → a Messages request for <see cref="ConversionOptions.UpstreamModel"/>, or the 400 that says why not.</summary>
    /// <param name="request">The client's body (lone surrogates already replaced).</param>
    /// <param name="context">The request's conversion context.</param>
    GatewayResult<ConvertedRequest> ToMessages(ReadOnlySpan<byte> request, ConversionContext context);

    /// <summary>An Anthropic <c>message</c> → the client's answer.</summary>
    /// <param name="message">The Messages answer.</param>
    /// <param name="context">The request's conversion context.</param>
    /// <exception cref="System.Text.Json.JsonException">The body is not an Anthropic message.</exception>
    byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context);

    /// <summary>A converter from an Anthropic SSE stream to the client's stream.</summary>
    /// <param name="context">The request's conversion context.</param>
    IStreamConverter StreamFromMessages(ConversionContext context);

    /// <summary>An error in Anthropic's shape (status and body) → the client's shape.</summary>
    /// <param name="status">The HTTP status.</param>
    /// <param name="anthropicError">The body, normally <c>{"type":"error","error":{…}}</c>.</param>
    /// <param name="context">The request's conversion context.</param>
    (int Status, byte[] Body) ErrorFromMessages(int status, ReadOnlySpan<byte> anthropicError, ConversionContext context);
}
