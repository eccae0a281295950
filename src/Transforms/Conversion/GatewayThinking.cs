namespace CcxProxy.Transforms.Conversion;

/// <summary>
/// Thinking blocks the gateway made from another provider's reasoning (DeepSeek's
/// <c>reasoning_content</c>, OpenRouter's <c>reasoning</c>) carry no Anthropic signature. They are marked
/// with a signature starting with <see cref="SignaturePrefix"/> so that, if the conversation later reaches
/// a real Anthropic upstream, they can be stripped there, while blocks signed by Anthropic are kept byte
/// for byte (docs/protocols.md §7, §8 #13–14).
/// </summary>
public static class GatewayThinking
{
    /// <summary>The prefix of every signature the gateway writes; never a valid Anthropic signature.</summary>
    public const string SignaturePrefix = "ccx-proxy.reasoning.v1";

    /// <summary>The signature the gateway gives a thinking block it made.</summary>
    public const string Signature = SignaturePrefix;

    /// <summary>True for a signature the gateway wrote (or none at all): such a block must not reach Anthropic.</summary>
    public static bool IsGatewayMade(string? signature) =>
        string.IsNullOrEmpty(signature) || signature.StartsWith(SignaturePrefix, StringComparison.Ordinal);
}
