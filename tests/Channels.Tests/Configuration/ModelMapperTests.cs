using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ModelMapperTests
{
    private static readonly Dictionary<string, string> Mapping = new(StringComparer.OrdinalIgnoreCase)
    {
        ["opus"] = "kimi-k2-max",
        ["sonnet"] = "kimi-k2",
        ["sonnet-4"] = "kimi-k2-turbo",
        ["haiku"] = "kimi-k2-mini",
        ["claude-opus-4-7"] = "exact-opus",
    };

    [TestCase("claude-opus-4-7", "exact-opus")]
    [TestCase("claude-opus-4-1", "kimi-k2-max")]
    [TestCase("claude-sonnet-4-6", "kimi-k2-turbo")]
    [TestCase("claude-sonnet-3-7", "kimi-k2")]
    [TestCase("claude-haiku-4-5", "kimi-k2-mini")]
    [TestCase("gpt-4o", "gpt-4o")]
    public void Map_RequestModel_MapsByRule(string model, string expected)
    {
        Assert.That(ModelMapper.Map(Mapping, model), Is.EqualTo(expected));
    }

    [Test]
    public void Map_ExactKeyPresent_ExactWinsOverLongerContainedKey()
    {
        var mapping = new Dictionary<string, string> { ["opus"] = "exact", ["claude-opus"] = "contained" };
        Assert.That(ModelMapper.Map(mapping, "opus"), Is.EqualTo("exact"));
    }

    [TestCase("claude-opus-4-7", "opus", "mapped")]
    [TestCase("CLAUDE-OPUS-4-7", "opus", "mapped")]
    [TestCase("claude-opus-4-7", "OPUS", "mapped")]
    [TestCase("Claude-Opus-4-7", "claude-opus-4-7", "mapped")]
    public void Map_DifferentCase_StillMatches(string model, string key, string expected)
    {
        var mapping = new Dictionary<string, string> { [key] = "mapped" };
        Assert.That(ModelMapper.Map(mapping, model), Is.EqualTo(expected));
    }

    [Test]
    public void Map_EmptyMapping_PassesThrough()
    {
        Assert.That(ModelMapper.Map(new Dictionary<string, string>(), "claude-opus-4-7"), Is.EqualTo("claude-opus-4-7"));
    }

    [Test]
    public void Map_SonnetAndSonnet4_LongestContainedWins()
    {
        // Insertion order must not matter.
        var mapping = new Dictionary<string, string> { ["sonnet"] = "short", ["sonnet-4"] = "long" };
        var reversed = new Dictionary<string, string> { ["sonnet-4"] = "long", ["sonnet"] = "short" };
        Assert.Multiple(() =>
        {
            Assert.That(ModelMapper.Map(mapping, "claude-sonnet-4-6"), Is.EqualTo("long"));
            Assert.That(ModelMapper.Map(reversed, "claude-sonnet-4-6"), Is.EqualTo("long"));
        });
    }

    [Test]
    public void ChannelConfigMapModel_SameRulesAsMapper()
    {
        var channel = ChannelTestData.Channel("c") with { ModelMapping = Mapping };
        Assert.Multiple(() =>
        {
            Assert.That(channel.MapModel("claude-sonnet-4-6"), Is.EqualTo("kimi-k2-turbo"));
            Assert.That(channel.MapModel("claude-haiku-4-5"), Is.EqualTo("kimi-k2-mini"));
            Assert.That(channel.MapModel("unknown"), Is.EqualTo("unknown"));
        });
    }

    [Test]
    public void ChannelConfigMapModel_AfterWithNewMapping_UsesNewMapping()
    {
        var original = ChannelTestData.Channel("c") with { ModelMapping = new Dictionary<string, string> { ["opus"] = "one" } };
        var copy = original with { ModelMapping = new Dictionary<string, string> { ["opus"] = "two" } };
        Assert.Multiple(() =>
        {
            Assert.That(original.MapModel("claude-opus-4-7"), Is.EqualTo("one"));
            Assert.That(copy.MapModel("claude-opus-4-7"), Is.EqualTo("two"));
        });
    }

    [TestCase("claude-haiku-claude-opus-4-1", "opus", "haiku")]
    [TestCase("claude-sonnet-3-7-haiku", "sonnet", "haiku")]
    [TestCase("x-sonnet-4-6-opus", "sonnet-4", "opus")]
    public void FindConflict_KeysOfTwoModels_Reported(string model, string first, string second)
    {
        var channel = ChannelTestData.Channel("c") with { ModelMapping = Mapping };

        Assert.That(channel.AmbiguousMapping(model), Does.Contain($"'{first}'").And.Contain($"'{second}'").And.Contain("ambiguous"));
    }

    [TestCase("claude-sonnet-4-6")]
    [TestCase("claude-sonnet-4-sonnet")]
    [TestCase("claude-opus-4-7")]
    [TestCase("claude-haiku-4-5")]
    [TestCase("gpt-4o")]
    public void FindConflict_OneFamilyOrRefinementOrExact_None(string model)
    {
        var channel = ChannelTestData.Channel("c") with { ModelMapping = Mapping };

        Assert.That(channel.AmbiguousMapping(model), Is.Null);
    }

    [Test]
    public void FindConflict_TwoKeysSameTarget_NotAConflict()
    {
        var channel = ChannelTestData.Channel("c") with { ModelMapping = new Dictionary<string, string> { ["haiku"] = "small", ["mini"] = "small" } };

        Assert.That(channel.AmbiguousMapping("claude-haiku-mini"), Is.Null);
        Assert.That(channel.MapModel("claude-haiku-mini"), Is.EqualTo("small"));
    }

    [TestCase("claude-sonnet-*", "claude-sonnet-4-6", "sonnet-4", true)]
    [TestCase("claude-haiku-*", "claude-haiku-x-opus", "opus", false)]
    [TestCase("claude-*", "claude-opus-4-7", "opus", false)]
    [TestCase("*-opus-*", "claude-opus-4-7", "opus", true)]
    [TestCase("*haiku*", "opus-haiku-opus", "opus", false)]
    [TestCase("*", "claude-opus-4-7", "opus", false)]
    [TestCase("claude-opus-4-7", "CLAUDE-OPUS-4-7", "opus", true)]
    [TestCase("claude-haiku-*", "claude-sonnet-4-6", "sonnet", false)]
    public void KeyOverlapsLiteral_OnlyWhatThePatternSpellsOut(string pattern, string name, string key, bool expected)
    {
        Assert.That(ModelPattern.KeyOverlapsLiteral(pattern, name, key), Is.EqualTo(expected));
    }
}
