namespace CcxProxy.Forwarding;

/// <summary>The client-facing APIs the gateway forwards.</summary>
internal enum InboundApi
{
    /// <summary><c>POST /v1/messages</c> (Anthropic).</summary>
    Messages,

    /// <summary><c>POST /v1/messages/count_tokens</c> (Anthropic).</summary>
    CountTokens,

    /// <summary><c>POST /v1/chat/completions</c> (OpenAI).</summary>
    ChatCompletions,

    /// <summary><c>POST /v1/completions</c> (OpenAI, legacy).</summary>
    Completions,
}
