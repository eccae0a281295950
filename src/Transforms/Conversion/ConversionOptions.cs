namespace CcxProxy.Transforms.Conversion;

/// <summary>What a channel decides about converting one request for its upstream.</summary>
public sealed record ConversionOptions
{
    /// <summary>The model name to send upstream (already mapped by the channel).</summary>
    public required string UpstreamModel { get; init; }

    /// <summary>The largest max_tokens the upstream accepts; larger requests are clamped. Null: no limit.</summary>
    public int? MaxTokensLimit { get; init; }

    /// <summary>
    /// Towards an OpenAI upstream: the field that carries the output limit, <c>max_tokens</c> (most
    /// compatible servers) or <c>max_completion_tokens</c> (OpenAI's reasoning models).
    /// </summary>
    public string MaxTokensField { get; init; } = "max_tokens";

    /// <summary>Towards an OpenAI upstream, when streaming: ask for the usage chunk (<c>stream_options.include_usage</c>).</summary>
    public bool IncludeStreamUsage { get; init; } = true;

    /// <summary>
    /// Towards an OpenAI upstream: send assistant thinking back as <c>reasoning_content</c>
    /// (DeepSeek requires it on tool-call turns; others reject the unknown field).
    /// </summary>
    public bool PassBackReasoning { get; init; }

    /// <summary>
    /// Drop Claude Code's per-request attribution block (the system text block that starts with
    /// <c>x-anthropic-billing-header:</c>): it changes on every request and defeats upstream prompt caches.
    /// </summary>
    public bool StripClaudeCodeAttribution { get; init; }
}
