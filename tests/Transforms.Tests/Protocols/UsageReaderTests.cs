using System.Text;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Protocols;

[TestFixture]
public sealed class UsageReaderTests
{
    [Test]
    public void Anthropic_AllFourCounts()
    {
        var usage = UsageReader.Read(WireProtocol.Anthropic, Encoding.UTF8.GetBytes(
            """{"type":"message","usage":{"input_tokens":12,"output_tokens":34,"cache_read_input_tokens":100,"cache_creation_input_tokens":7}}"""))!;

        Assert.That((usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens, usage.CacheCreationInputTokens), Is.EqualTo((12L, 34L, 100L, 7L)));
    }

    [TestCase("""{"usage":{"prompt_tokens":120,"completion_tokens":30,"prompt_tokens_details":{"cached_tokens":100}}}""")]
    [TestCase("""{"usage":{"prompt_tokens":120,"completion_tokens":30,"prompt_cache_hit_tokens":100}}""")]
    public void OpenAI_InputNetOfCachedTokens(string body)
    {
        var usage = UsageReader.Read(WireProtocol.OpenAI, Encoding.UTF8.GetBytes(body))!;

        Assert.That((usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens), Is.EqualTo((20L, 30L, 100L)));
    }

    [Test]
    public void Gemini_UsageMetadata_CachedTokensOutOfThePrompt_ThoughtsInTheOutput()
    {
        var usage = UsageReader.Read(WireProtocol.Gemini, Encoding.UTF8.GetBytes(
            """{"candidates": [],"usageMetadata": {"promptTokenCount": 120,"candidatesTokenCount": 30,"thoughtsTokenCount": 5,"cachedContentTokenCount": 100}}"""))!;

        Assert.That((usage.InputTokens, usage.OutputTokens, usage.CacheReadInputTokens), Is.EqualTo((20L, 35L, 100L)));
        Assert.That(UsageReader.Read(WireProtocol.Gemini, """{"candidates":[]}"""u8), Is.Null);
    }

    [TestCase("""{"id":"x"}""")]
    [TestCase("""{"usage":null}""")]
    [TestCase("not json")]
    public void NoUsage_Null(string body) => Assert.That(UsageReader.Read(WireProtocol.Anthropic, Encoding.UTF8.GetBytes(body)), Is.Null);
}
