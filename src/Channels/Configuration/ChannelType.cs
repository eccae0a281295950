namespace CcxProxy.Channels;

/// <summary>How the upstream key is sent. File field <c>"auth"</c>: <c>"x-api-key"</c> or <c>"bearer"</c>.</summary>
public enum UpstreamAuthStyle
{
    /// <summary><c>x-api-key: KEY</c> (default for anthropic channels).</summary>
    XApiKey,

    /// <summary><c>Authorization: Bearer KEY</c> (default for openai channels).</summary>
    Bearer,
}
