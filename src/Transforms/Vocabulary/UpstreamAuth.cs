namespace CcxProxy.Transforms.Vocabulary;

/// <summary>
/// How the upstream expects its key. A channel file's <c>"auth"</c>: <c>"x-api-key"</c> (the default for anthropic
/// channels), <c>"bearer"</c> (the default for openai and responses channels) or <c>"x-goog-api-key"</c> (the
/// default for gemini channels).
/// </summary>
public enum UpstreamAuth
{
    /// <summary><c>x-api-key: KEY</c> (Anthropic).</summary>
    XApiKey,

    /// <summary><c>Authorization: Bearer KEY</c> (OpenAI and most compatible hosts).</summary>
    Bearer,

    /// <summary><c>x-goog-api-key: KEY</c> (Google's Gemini API).</summary>
    GoogApiKey,
}
