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

    /// <summary>
    /// The prefix of a signature that carries a Gemini <c>thoughtSignature</c> to an Anthropic client and back: the
    /// client returns the thinking block as it got it, and the gemini channel puts the signature back on the part
    /// that followed it, byte for byte. Being the gateway's, such a block never reaches Anthropic.
    /// </summary>
    public const string GeminiSignaturePrefix = SignaturePrefix + ".gemini:";

    /// <summary>The signature of a thinking block that carries <paramref name="thoughtSignature"/>; the plain marker when there is none.</summary>
    public static string ForGemini(string? thoughtSignature) =>
        string.IsNullOrEmpty(thoughtSignature) ? Signature : GeminiSignaturePrefix + thoughtSignature;

    /// <summary>The Gemini <c>thoughtSignature</c> a thinking block's signature carries; null when it carries none.</summary>
    public static string? GeminiThoughtSignature(string? signature) =>
        signature is not null && signature.StartsWith(GeminiSignaturePrefix, StringComparison.Ordinal) && signature.Length > GeminiSignaturePrefix.Length
            ? signature[GeminiSignaturePrefix.Length..]
            : null;

    /// <summary>True for a signature the gateway wrote (or none at all): such a block must not reach Anthropic.</summary>
    public static bool IsGatewayMade(string? signature) =>
        string.IsNullOrEmpty(signature) || signature.StartsWith(SignaturePrefix, StringComparison.Ordinal);
}
