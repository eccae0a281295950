namespace CcxProxy.Transforms.Vocabulary;

/// <summary>
/// The API protocols the gateway speaks, on either side: what a caller speaks (and so which error shape it reads),
/// and what a channel's upstream speaks (a channel file's <c>"type"</c>: <c>"anthropic"</c>, <c>"openai"</c>,
/// <c>"responses"</c> or <c>"gemini"</c>).
/// </summary>
public enum WireProtocol
{
    /// <summary>Anthropic Messages (<c>/v1/messages</c>).</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions and Completions.</summary>
    OpenAI,

    /// <summary>
    /// OpenAI Responses (<c>/responses</c>), as a channel's protocol. A Responses client reads OpenAI's answer and error
    /// shapes, so on the client side it is <see cref="OpenAI"/>.
    /// </summary>
    Responses,

    /// <summary>
    /// Google's Gemini API (<c>/v1beta/models/{model}:generateContent</c>), on either side: its answers and errors
    /// (<c>{"error":{"code","message","status"}}</c>) are its own.
    /// </summary>
    Gemini,
}

/// <summary>What follows from a protocol.</summary>
public static class WireProtocols
{
    /// <summary>The channel file's <c>"type"</c> for the protocol.</summary>
    /// <param name="protocol">The protocol.</param>
    public static string ChannelType(this WireProtocol protocol) => protocol switch
    {
        WireProtocol.Anthropic => "anthropic",
        WireProtocol.OpenAI => "openai",
        WireProtocol.Responses => "responses",
        WireProtocol.Gemini => "gemini",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null),
    };
}
