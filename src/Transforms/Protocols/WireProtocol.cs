namespace CcxProxy.Transforms.Protocols;

/// <summary>The two API protocols the gateway speaks, on either side.</summary>
public enum WireProtocol
{
    /// <summary>Anthropic Messages (<c>/v1/messages</c>).</summary>
    Anthropic,

    /// <summary>OpenAI Chat Completions and Completions.</summary>
    OpenAI,
}
