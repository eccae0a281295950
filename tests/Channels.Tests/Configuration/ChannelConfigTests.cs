using System.Text;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ChannelConfigTests
{
    [TestCase(null, "anything-at-all", true)]
    [TestCase(new[] { "claude-*" }, "claude-opus-4-7", true)]
    [TestCase(new[] { "claude-*" }, "CLAUDE-Opus-4-7", true)]
    [TestCase(new[] { "claude-*" }, "gpt-4o", false)]
    [TestCase(new[] { "*-4-*" }, "claude-sonnet-4-6", true)]
    [TestCase(new[] { "*sonnet*" }, "claude-sonnet-4-6", true)]
    [TestCase(new[] { "claude-*-4-6" }, "claude-sonnet-4-6", true)]
    [TestCase(new[] { "claude-*-4-6" }, "claude-sonnet-4-7", false)]
    [TestCase(new[] { "gpt-4o" }, "gpt-4o", true)]
    [TestCase(new[] { "gpt-4o" }, "gpt-4o-mini", false)]
    [TestCase(new[] { "gpt-4o", "kimi-*" }, "kimi-k2", true)]
    [TestCase(new[] { "*" }, "", true)]
    [TestCase(new[] { "a*a*a*b" }, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false)]
    public void ServesModel_Patterns_MatchesWildcards(string[]? models, string model, bool expected)
    {
        var channel = ChannelTestData.Channel("c", models: models);
        Assert.That(channel.ServesModel(model), Is.EqualTo(expected));
    }

    [Test]
    public void ToString_WithSecrets_PrintsFingerprintsAndMaskedHeaders()
    {
        var result = ChannelFileParser.Parse(
            "c.json",
            Encoding.UTF8.GetBytes("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["sk-literal-secret","env:KEY"],"headers":{"X-Org":"env:ORG","X-Plain":"plain-header-secret"}}"""),
            name => name switch { "KEY" => "sk-env-secret", "ORG" => "org-env-secret", _ => null });
        var channel = result.Channel!;

        var text = channel.ToString();

        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Not.Contain("sk-literal-secret"));
            Assert.That(text, Does.Not.Contain("sk-env-secret"));
            Assert.That(text, Does.Not.Contain("org-env-secret"));
            Assert.That(text, Does.Not.Contain("plain-header-secret"));
            Assert.That(text, Does.Contain("key:" + channel.ApiKeys[0].Fingerprint));
            Assert.That(text, Does.Contain("X-Org: ***"));
            Assert.That(text, Does.Contain("Name = c"));
        });
    }

    [Test]
    public void UpstreamKey_ToString_FingerprintOnly()
    {
        var key = new UpstreamKey("sk-ant-very-secret");
        Assert.Multiple(() =>
        {
            Assert.That(key.ToString(), Is.EqualTo("key:" + key.Fingerprint));
            Assert.That(key.ToString(), Does.Not.Contain("secret"));
            Assert.That(key.Fingerprint, Does.Match("^[0-9a-f]{8}$"));
            // SHA-256("abc") starts with ba7816bf.
            Assert.That(new UpstreamKey("abc").Fingerprint, Is.EqualTo("ba7816bf"));
        });
    }
}
