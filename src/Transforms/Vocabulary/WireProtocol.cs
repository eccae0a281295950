namespace CcxProxy.Transforms.Vocabulary;

/// <summary>
/// The API protocols the gateway speaks, on either side: what a caller speaks (and so which error shape it reads),
/// and what a channel's upstream speaks (a channel file's <c>"type"</c>: <c>"anthropic"</c> or <c>"openai"</c>).
/// </summary>
public enum WireProtocol
{
    /// <summary>Anthropic Messages (<c>/v1/messages</c>).</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions and Completions.</summary>
    OpenAI,
}
