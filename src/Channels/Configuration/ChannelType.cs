namespace CcxProxy.Channels;

/// <summary>The protocol a channel's upstream speaks. File value <c>"anthropic"</c> or <c>"openai"</c>.</summary>
public enum ChannelType
{
    /// <summary>Anthropic Messages API (<c>"anthropic"</c>).</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions API (<c>"openai"</c>).</summary>
    OpenAI,
}

/// <summary>How the upstream key is sent. File field <c>"auth"</c>: <c>"x-api-key"</c> or <c>"bearer"</c>.</summary>
public enum UpstreamAuthStyle
{
    /// <summary><c>x-api-key: KEY</c> (default for anthropic channels).</summary>
    XApiKey,

    /// <summary><c>Authorization: Bearer KEY</c> (default for openai channels).</summary>
    Bearer,
}
