using CcxProxy.Channels.Routing;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class RendezvousTests
{
    private const int Conversations = 20_000;

    private static ChannelSnapshot Snapshot(params ChannelConfig[] channels) => new(channels, [], 1, DateTimeOffset.UnixEpoch, "/channels");

    private static string[] Names(IReadOnlyList<ChannelConfig> channels) => [.. channels.Select(c => c.Name)];

    /// <summary>Random affinity keys, seeded so a failure reproduces.</summary>
    private static ulong[] Affinities(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, Conversations).Select(_ => (ulong)random.NextInt64(long.MinValue, long.MaxValue))];
    }

    [Test]
    public void Hash_FixedString_PinnedValue()
    {
        // Every replica must pick the same channel for a conversation: this value may never change.
        Assert.Multiple(() =>
        {
            Assert.That(StableHash.Of("ccx-proxy"), Is.EqualTo(0x3a2d7a02a1cc995cUL));
            Assert.That(StableHash.Of(""), Is.EqualTo(0xf52a15e9a9b5e89bUL));
        });
    }

    [Test]
    public void Candidates_SameAffinity_SameOrderEveryTime()
    {
        var snapshot = Snapshot(
            ChannelTestData.Channel("a", weight: 1),
            ChannelTestData.Channel("b", weight: 2),
            ChannelTestData.Channel("c", weight: 3),
            ChannelTestData.Channel("d", weight: 4));

        foreach (var affinity in Affinities(1).Take(200))
        {
            var first = Names(snapshot.Candidates("default", "m", affinity));
            var reloaded = Snapshot([.. snapshot.Channels.Reverse()]); // another replica, built in another order
            Assert.Multiple(() =>
            {
                Assert.That(Names(snapshot.Candidates("default", "m", affinity)), Is.EqualTo(first));
                Assert.That(Names(reloaded.Candidates("default", "m", affinity)), Is.EqualTo(first));
            });
        }
    }

    [Test]
    public void Candidates_DifferentAffinities_SpreadOverChannels()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a"), ChannelTestData.Channel("b"), ChannelTestData.Channel("c"));
        var firsts = Affinities(2).Take(300).Select(a => snapshot.Candidates("default", "m", a)[0].Name).Distinct();
        Assert.That(firsts, Is.EquivalentTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public void Candidates_Priorities_PriorityBeforeAffinityAndWeight()
    {
        var snapshot = Snapshot(
            ChannelTestData.Channel("low", priority: 10, weight: 100),
            ChannelTestData.Channel("high", priority: -1, weight: 1),
            ChannelTestData.Channel("mid1", priority: 0, weight: 50),
            ChannelTestData.Channel("mid2", priority: 0, weight: 50));

        foreach (var affinity in Affinities(3).Take(500))
        {
            var names = Names(snapshot.Candidates("default", "m", affinity));
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
    public void Candidates_GroupAndModelFilter_AppliedWithAffinity()
    {
        var snapshot = Snapshot(
            ChannelTestData.Channel("a", groups: ["team"]),
            ChannelTestData.Channel("b", models: ["gpt-*"]),
            ChannelTestData.Channel("c", enabled: false),
            ChannelTestData.Channel("d"));

        Assert.Multiple(() =>
        {
            Assert.That(Names(snapshot.Candidates("default", "claude-opus-4-7", 7UL)), Is.EqualTo(new[] { "d" }));
            Assert.That(snapshot.Candidates("nobody", "m", 7UL), Is.Empty);
        });
    }

    [Test]
    public void Candidates_Weights3To1_FirstPickFollowsWeights()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("heavy", weight: 3), ChannelTestData.Channel("light", weight: 1));
        var heavyFirst = Affinities(4).Count(a => snapshot.Candidates("default", "m", a)[0].Name == "heavy");
        Assert.That(heavyFirst / (double)Conversations, Is.EqualTo(0.75).Within(0.02));
    }

    [Test]
    public void Candidates_Weights1To2To7_FirstPickFollowsWeights()
    {
        var snapshot = Snapshot(ChannelTestData.Channel("a", weight: 1), ChannelTestData.Channel("b", weight: 2), ChannelTestData.Channel("c", weight: 7));
        var firsts = Affinities(5).GroupBy(a => snapshot.Candidates("default", "m", a)[0].Name).ToDictionary(g => g.Key, g => g.Count() / (double)Conversations);
        Assert.Multiple(() =>
        {
            Assert.That(firsts["a"], Is.EqualTo(0.1).Within(0.02));
            Assert.That(firsts["b"], Is.EqualTo(0.2).Within(0.02));
            Assert.That(firsts["c"], Is.EqualTo(0.7).Within(0.02));
        });
    }

    [Test]
    public void Candidates_ChannelRemoved_OnlyItsConversationsMove()
    {
        var a = ChannelTestData.Channel("a", weight: 2);
        var b = ChannelTestData.Channel("b", weight: 1);
        var c = ChannelTestData.Channel("c", weight: 1);
        var before = Snapshot(a, b, c);
        var after = Snapshot(a, c);

        int preferredB = 0, changed = 0;
        foreach (var affinity in Affinities(6))
        {
            var oldOrder = Names(before.Candidates("default", "m", affinity));
            var newOrder = Names(after.Candidates("default", "m", affinity));
            if (oldOrder[0] == "b")
            {
                preferredB++;
            }

            // Everyone keeps the relative order of a and c, so a conversation that did not prefer b keeps its first pick.
            if (!newOrder.SequenceEqual(oldOrder.Where(n => n != "b")))
            {
                changed++;
            }
        }

        Assert.Multiple(() =>
        {
            Assert.That(changed, Is.Zero);
            Assert.That(preferredB / (double)Conversations, Is.EqualTo(0.25).Within(0.02), "only b's share moves");
        });
    }

    [Test]
    public void Order_SingleItem_Unchanged()
    {
        string[] items = ["only"];
        Rendezvous.Order(items.AsSpan(), 1UL, static s => s, static _ => 1);
        Assert.That(items, Is.EqualTo(new[] { "only" }));
    }

    [Test]
    public void Score_ZeroOrNegativeWeight_TreatedAsOne()
    {
        var item = StableHash.Of("x");
        Assert.Multiple(() =>
        {
            Assert.That(Rendezvous.Score(9UL, item, 0), Is.EqualTo(Rendezvous.Score(9UL, item, 1)));
            Assert.That(Rendezvous.Score(9UL, item, -3), Is.EqualTo(Rendezvous.Score(9UL, item, 1)));
            Assert.That(Rendezvous.Score(9UL, item, 1), Is.GreaterThanOrEqualTo(0).And.Not.NaN);
        });
    }
}
