using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ChannelSnapshotTests
{
    private static ChannelSnapshot Snapshot(params ChannelConfig[] channels) => new(channels, [], 1, DateTimeOffset.UnixEpoch, "/channels");

    [Test]
    public void Channels_Unsorted_SortedByName()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("b"), ChannelTestData.Channel("a"), ChannelTestData.Channel("c"));
        Assert.That(snapshot.Channels.Select(c => c.Name), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public void Find_AnyCase_FindsChannel()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("Kimi"));
        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Find("kimi")?.Name, Is.EqualTo("Kimi"));
            Assert.That(snapshot.Find("other"), Is.Null);
        });
    }

    [Test]
    public void Candidates_GroupFilter_OnlyChannelsListingGroup()
    {
        var snapshot = Snapshot(
            ChannelTestData.Channel("a", groups: ["team-a"]),
            ChannelTestData.Channel("b", groups: ["team-b", "team-a"]),
            ChannelTestData.Channel("c"));

        var candidates = snapshot.Candidates("team-b", "claude-opus-4-7", new Random(1));
        Assert.That(candidates.Select(c => c.Name), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void Candidates_DisabledChannel_Skipped()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a", enabled: false), ChannelTestData.Channel("b"));
        Assert.That(snapshot.Candidates("default", "m", new Random(1)).Select(c => c.Name), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void Candidates_ModelNotServed_Skipped()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a", models: ["gpt-*"]), ChannelTestData.Channel("b", models: ["claude-*"]));
        Assert.That(snapshot.Candidates("default", "claude-haiku-4-5", new Random(1)).Select(c => c.Name), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void Candidates_NoMatch_Empty()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a"));
        Assert.That(snapshot.Candidates("nobody", "m", new Random(1)), Is.Empty);
    }

    [Test]
    public void Candidates_Priorities_AscendingPriority()
    {
        var snapshot = Snapshot(
            ChannelTestData.Channel("low", priority: 10),
            ChannelTestData.Channel("high", priority: -1, weight: 1),
            ChannelTestData.Channel("mid1", priority: 0, weight: 100),
            ChannelTestData.Channel("mid2", priority: 0, weight: 100));

        for (var seed = 0; seed < 20; seed++)
        {
            var names = snapshot.Candidates("default", "m", new Random(seed)).Select(c => c.Name).ToArray();
            Assert.Multiple(() =>
            {
                Assert.That(names, Has.Length.EqualTo(4));
                Assert.That(names[0], Is.EqualTo("high"));
                Assert.That(names[1..3], Is.EquivalentTo(new[] { "mid1", "mid2" }));
                Assert.That(names[3], Is.EqualTo("low"));
            });
        }
    }

    [Test]
    public void Candidates_Weights1And3_HeavierFirstAboutThreeQuarters()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("light", weight: 1), ChannelTestData.Channel("heavy", weight: 3));
        var random = new Random(12345);

        var heavyFirst = 0;
        for (var i = 0; i < 10_000; i++)
        {
            var candidates = snapshot.Candidates("default", "m", random);
            Assert.That(candidates, Has.Count.EqualTo(2));
            if (candidates[0].Name == "heavy")
            {
                heavyFirst++;
            }
        }

        Assert.That(heavyFirst, Is.InRange(7_000, 8_000));
    }

    [Test]
    public void Candidates_ThreeWeighted_FirstPickFollowsWeights()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a", weight: 1), ChannelTestData.Channel("b", weight: 2), ChannelTestData.Channel("c", weight: 7));
        var random = new Random(7);
        var firsts = new Dictionary<string, int> { ["a"] = 0, ["b"] = 0, ["c"] = 0 };
        for (var i = 0; i < 10_000; i++)
        {
            firsts[snapshot.Candidates("default", "m", random)[0].Name]++;
        }

        Assert.Multiple(() =>
        {
            Assert.That(firsts["a"], Is.InRange(700, 1_300));
            Assert.That(firsts["b"], Is.InRange(1_600, 2_400));
            Assert.That(firsts["c"], Is.InRange(6_500, 7_500));
        });
    }

    [Test]
    public void Constructor_DuplicateNames_Throws()
    {
        Assert.Throws<ArgumentException>(() => Snapshot(ChannelTestData.Channel("a"), ChannelTestData.Channel("A")));
    }
}
