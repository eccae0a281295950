using System.Text;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Vocabulary;

/// <summary>The one stable hash the affinity keys and the rendezvous orders share: the same value however it is fed.</summary>
[TestFixture]
public sealed class StableHashTests
{
    [TestCase("ccx-proxy")]
    [TestCase("")]
    [TestCase("région-β-渠道")]
    [TestCase("😀 a key with an emoji")]
    public void Text_HashesItsUtf8Bytes(string text)
        => Assert.That(StableHash.Of(text), Is.EqualTo(StableHash.Of(Encoding.UTF8.GetBytes(text))));

    [Test]
    public void LongText_RentedBuffer_SameAsItsBytes()
    {
        var text = string.Concat(Enumerable.Repeat("é", 5_000));

        Assert.That(StableHash.Of(text), Is.EqualTo(StableHash.Of(Encoding.UTF8.GetBytes(text))));
    }

    [Test]
    public void Incremental_SameAsOneShot_AndOrderMatters()
    {
        var incremental = StableHash.Finish(StableHash.Add(StableHash.Add(StableHash.Start, "session:"u8), "abc"u8));

        Assert.That(incremental, Is.EqualTo(StableHash.Of("session:abc"u8)));
        Assert.That(StableHash.Of("ab"), Is.Not.EqualTo(StableHash.Of("ba")));
    }

    [Test]
    public void Pinned_SameOnEveryMachine()
    {
        // Replicas agree only if the value never depends on the process: these are the values since the first release.
        Assert.That(StableHash.Of("ccx-proxy"), Is.EqualTo(0x3a2d7a02a1cc995cUL));
        Assert.That(StableHash.Of(""), Is.EqualTo(0xf52a15e9a9b5e89bUL));
    }
}
