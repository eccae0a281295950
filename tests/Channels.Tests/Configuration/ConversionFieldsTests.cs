using System.Text;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests.Configuration;

/// <summary>The fields that steer protocol conversion for a channel.</summary>
[TestFixture]
public sealed class ConversionFieldsTests
{
    private static ChannelParseResult Parse(string fields, string type = "openai", string baseUrl = "https://api.deepseek.com/v1") =>
        ChannelFileParser.Parse("c.json", Encoding.UTF8.GetBytes(
            $$"""{"type":"{{type}}","baseUrl":"{{baseUrl}}","apiKeys":["k"]{{(fields.Length > 0 ? "," + fields : "")}}}"""), _ => null);

    [Test]
    public void Defaults_MaxTokensStreamUsageNoPassBack()
    {
        var channel = Parse("").Channel!;

        Assert.That(channel.MaxTokensField, Is.EqualTo("max_tokens"));
        Assert.That(channel.StreamUsage, Is.True);
        Assert.That(channel.PassBackReasoning, Is.False);
    }

    [TestCase("https://api.anthropic.com", false)]
    [TestCase("https://API.ANTHROPIC.COM/", false)]
    [TestCase("https://api.deepseek.com/anthropic", true)]
    [TestCase("https://api.kimi.com/coding/", true)]
    public void StripAttribution_DefaultsOnExceptForAnthropicsOwnApi(string baseUrl, bool expected) =>
        Assert.That(Parse("", "anthropic", baseUrl).Channel!.StripClaudeCodeAttribution, Is.EqualTo(expected));

    [Test]
    public void ExplicitValues_Used()
    {
        var channel = Parse("""
            "maxTokensField":"max_completion_tokens","streamUsage":false,"passBackReasoning":true,"stripClaudeCodeAttribution":false
            """).Channel!;

        Assert.That(channel.MaxTokensField, Is.EqualTo("max_completion_tokens"));
        Assert.That(channel.StreamUsage, Is.False);
        Assert.That(channel.PassBackReasoning, Is.True);
        Assert.That(channel.StripClaudeCodeAttribution, Is.False);
    }

    [Test]
    public void BadValues_EveryFieldNamed()
    {
        var result = Parse("""
            "maxTokensField":"max_output","streamUsage":"yes","passBackReasoning":1,"stripClaudeCodeAttribution":null
            """);

        Assert.That(result.Errors.Select(e => e.Field), Is.EquivalentTo(new[]
        {
            "maxTokensField", "streamUsage", "passBackReasoning", "stripClaudeCodeAttribution",
        }));
    }
}
