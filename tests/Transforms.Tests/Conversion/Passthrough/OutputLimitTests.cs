using System.Text;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.Passthrough;

/// <summary>
/// A channel's <c>maxTokens</c> on the same-protocol routes whose limit is not a top-level <c>max_tokens</c>: Responses'
/// <c>max_output_tokens</c> and Gemini's <c>generationConfig.maxOutputTokens</c> (or its snake_case name). Lowered when
/// the client asks for more; otherwise the body is the client's, byte for byte.
/// </summary>
[TestFixture]
public sealed class OutputLimitTests
{
    private static readonly (string, string?)[] GeminiPath = [("generationConfig", "generation_config"), ("maxOutputTokens", "max_output_tokens")];

    private static string Clamp(string body, int? limit, params (string, string?)[] path) =>
        Encoding.UTF8.GetString(CcxProxy.Transforms.Conversion.Hub.Passthrough.ClampOutputTokens(Encoding.UTF8.GetBytes(body), limit, path).Span);

    [TestCase("""{"contents":[],"generationConfig":{"maxOutputTokens":65536,"temperature":1}}""", """{"contents":[],"generationConfig":{"maxOutputTokens":8192,"temperature":1}}""")]
    [TestCase("""{"contents":[],"generation_config":{"max_output_tokens":65536}}""", """{"contents":[],"generation_config":{"max_output_tokens":8192}}""")]
    public void Gemini_OverTheLimit_Lowered(string body, string expected) => Assert.That(Clamp(body, 8192, GeminiPath), Is.EqualTo(expected));

    // Both spellings at once, or one twice: an upstream that reads either sees no more than the limit.
    [TestCase("""{"generationConfig":{"maxOutputTokens":100,"max_output_tokens":65536}}""", """{"generationConfig":{"maxOutputTokens":100,"max_output_tokens":8192}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":9000},"generation_config":{"max_output_tokens":65536}}""",
        """{"generationConfig":{"maxOutputTokens":8192},"generation_config":{"max_output_tokens":8192}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":100,"maxOutputTokens":65536}}""", """{"generationConfig":{"maxOutputTokens":100,"maxOutputTokens":8192}}""")]
    // A number in any notation.
    [TestCase("""{"generationConfig":{"maxOutputTokens":1e6}}""", """{"generationConfig":{"maxOutputTokens":8192}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":65536.0}}""", """{"generationConfig":{"maxOutputTokens":8192}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":1e400}}""", """{"generationConfig":{"maxOutputTokens":8192}}""")]
    // A numeric string, which Google's JSON mapping reads as the number.
    [TestCase("""{"generationConfig":{"maxOutputTokens":"65536"}}""", """{"generationConfig":{"maxOutputTokens":8192}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":"100"}}""", """{"generationConfig":{"maxOutputTokens":"100"}}""")]
    [TestCase("""{"generationConfig":{"maxOutputTokens":-1e400}}""", """{"generationConfig":{"maxOutputTokens":-1e400}}""")]
    // Not at the path: left alone.
    [TestCase("""{"contents":[{"maxOutputTokens":65536}],"x":{"generationConfig":{"maxOutputTokens":65536}}}""",
        """{"contents":[{"maxOutputTokens":65536}],"x":{"generationConfig":{"maxOutputTokens":65536}}}""")]
    public void Gemini_EveryValueAtThePath_Lowered(string body, string expected) => Assert.That(Clamp(body, 8192, GeminiPath), Is.EqualTo(expected));

    [Test]
    public void Lowered_EveryOtherByteAsSent()
    {
        // Pretty-printed, with escapes a serializer would rewrite ("\u00e9", "\/", "\u003c"): only the number changes.
        const string body = "{\n  \"contents\": [{\"parts\": [{\"text\": \"caf\\u00e9 \\/ \\u003cb\\u003e\"}]}],\n  \"generationConfig\": { \"maxOutputTokens\" : 65536 }\n}";

        Assert.That(Clamp(body, 8192, GeminiPath), Is.EqualTo(body.Replace("65536", "8192", StringComparison.Ordinal)));
    }

    [TestCase("""{"contents":[],"generationConfig":{"maxOutputTokens":100},"x":"sig+/="}""", 8192)]
    [TestCase("""{"contents":[],"generationConfig":{"maxOutputTokens":65536}}""", null)]
    [TestCase("""{"contents":[{"parts":[{"text":"maxOutputTokens"}]}]}""", 8192)]
    public void UnderTheLimit_NoLimit_OrNoField_BodyAsSent(string body, int? limit) => Assert.That(Clamp(body, limit, GeminiPath), Is.EqualTo(body));

    [Test]
    public void Responses_MaxOutputTokens_Lowered_SignaturesUnescaped() =>
        Assert.That(Clamp("""{"model":"gpt-5","max_output_tokens":128000,"input":[{"type":"reasoning","encrypted_content":"gAAA+/="}]}""", 32000, ("max_output_tokens", null)),
            Is.EqualTo("""{"model":"gpt-5","max_output_tokens":32000,"input":[{"type":"reasoning","encrypted_content":"gAAA+/="}]}"""));
}
