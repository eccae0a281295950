using CcxProxy.Transforms.Json;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>
/// What every conversion of one request reads besides the body: the channel's choices and the request's facts.
/// The same instance goes to every codec the request passes through.
/// </summary>
public sealed class ConversionContext
{
    /// <summary>The model name the client asked for; answers carry it back.</summary>
    public required string ClientModel { get; init; }

    /// <summary>The channel's choices: the upstream model, the max_tokens limit, reasoning pass-back and the rest.</summary>
    public required ConversionOptions Options { get; init; }

    /// <summary>The host's clock, for the <c>created</c> of OpenAI answers.</summary>
    public required TimeProvider Time { get; init; }

    /// <summary>The attempt's channel, named in errors the gateway writes for it.</summary>
    public required string ChannelName { get; init; }

    /// <summary>The request's id, echoed in Anthropic error bodies; null when there is none.</summary>
    public string? RequestId { get; init; }

    /// <summary>The client asked for a stream (the body's <c>stream</c>; for Gemini, the method it called).</summary>
    public bool Stream { get; init; }

    /// <summary>A Gemini client's <c>streamGenerateContent</c> without <c>alt=sse</c>: the stream is one JSON array.</summary>
    public bool JsonArrayStream { get; init; }

    /// <summary>The client asked for the usage chunk at the end of an OpenAI stream (<c>stream_options.include_usage</c>).</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>The request's input-token estimate, announced before the upstream reports its count.</summary>
    public Func<long> InputTokens { get; init; } = static () => 0;

    /// <summary>
    /// Receives the whole answer in the client's protocol once it is complete, for protocols whose answers the gateway
    /// keeps (an OpenAI Responses <c>response</c> object, with <c>store</c>); null when nothing is kept.
    /// </summary>
    public Action<byte[]>? OnAnswer { get; init; }
}

/// <summary>One request's body, as sent and as conversion reads it.</summary>
/// <param name="Body">The body as the client sent it: what passthrough forwards.</param>
/// <param name="Text">The same body with lone surrogates replaced (<see cref="LoneSurrogates"/>): what conversion reads.</param>
/// <param name="Scan">The scan of <paramref name="Body"/>: model, max_tokens and where they are.</param>
public sealed record ConversionRequest(ReadOnlyMemory<byte> Body, ReadOnlyMemory<byte> Text, RequestScan Scan);
