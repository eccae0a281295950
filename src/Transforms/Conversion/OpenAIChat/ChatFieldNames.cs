namespace CcxProxy.Transforms.Conversion.OpenAIChat;

/// <summary>
/// What a client's protocol calls the fields its request was turned into on the way to Chat, so that a refusal by
/// the Chat converter names what that client sent: a Codex user reads <c>max_output_tokens</c>, not
/// <c>max_completion_tokens</c>.
/// </summary>
/// <param name="Conversation">Where the turns came from: <c>messages</c>, <c>input</c>, <c>contents</c>, <c>prompt</c>.</param>
/// <param name="MaxTokens">The output limit's field; null for Chat's own (whichever of its two names was sent).</param>
/// <param name="ReasoningEffort">The reasoning effort's field.</param>
public sealed record ChatFieldNames(string Conversation, string? MaxTokens, string ReasoningEffort)
{
    /// <summary>A Chat client's own names.</summary>
    public static ChatFieldNames Chat { get; } = new("messages", null, "reasoning_effort");

    /// <summary>An OpenAI Responses client's.</summary>
    public static ChatFieldNames Responses { get; } = new("input", "max_output_tokens", "reasoning.effort");

    /// <summary>A Gemini client's (its thinking level or budget is read into an effort before Chat sees it).</summary>
    public static ChatFieldNames Gemini { get; } = new("contents", "generationConfig.maxOutputTokens", "generationConfig.thinkingConfig");

    /// <summary>A legacy Completions client's.</summary>
    public static ChatFieldNames Completions { get; } = new("prompt", "max_tokens", "reasoning_effort");
}
