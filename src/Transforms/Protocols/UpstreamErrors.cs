namespace CcxProxy.Transforms.Protocols;

/// <summary>Upstream errors passed on to a client of the same protocol: kept when already in shape, wrapped otherwise.</summary>
public static class UpstreamErrors
{
    /// <summary>An Anthropic upstream's error for an Anthropic client.</summary>
    public static (int Status, byte[] Body) AnthropicInShape(int status, ReadOnlyMemory<byte> body, string channel, string? requestId) =>
        ErrorBodies.IsAnthropicError(body.Span)
            ? (status, body.ToArray())
            : (status, ErrorBodies.Anthropic(ErrorBodies.AnthropicType(status), Message(status, body, channel), requestId));

    /// <summary>An OpenAI upstream's error for an OpenAI client.</summary>
    public static (int Status, byte[] Body) OpenAIInShape(int status, ReadOnlyMemory<byte> body, string channel) =>
        ErrorBodies.IsOpenAIError(body.Span)
            ? (status, body.ToArray())
            : (status, ErrorBodies.OpenAI(ErrorBodies.OpenAIType(status), Message(status, body, channel), code: null));

    /// <summary>A Gemini upstream's error for a Gemini client.</summary>
    public static (int Status, byte[] Body) GoogleInShape(int status, ReadOnlyMemory<byte> body, string channel) =>
        ErrorBodies.IsGoogleError(body.Span)
            ? (status, body.ToArray())
            : (status, ErrorBodies.Google(status, Message(status, body, channel)));

    private static string Message(int status, ReadOnlyMemory<byte> body, string channel) =>
        ErrorBodies.TryReadMessage(body.Span) ?? $"the upstream of channel '{channel}' answered HTTP {status}";

}
