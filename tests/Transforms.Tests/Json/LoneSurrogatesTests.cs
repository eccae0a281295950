using System.Text;
using System.Text.Json;
using CcxProxy.Transforms.Json;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Json;

[TestFixture]
public sealed class LoneSurrogatesTests
{
    private static string Replace(string json) => Encoding.UTF8.GetString(LoneSurrogates.Replace(Encoding.UTF8.GetBytes(json)).Span);

    [TestCase("""{"t":"cut \ud83d"}""", """{"t":"cut \uFFFD"}""")]
    [TestCase("""{"t":"\udc00 start"}""", """{"t":"\uFFFD start"}""")]
    [TestCase("""{"t":"\ud83d\ud83d\ude00"}""", """{"t":"\uFFFD\ud83d\ude00"}""")]
    [TestCase("""{"t":"\uD83D"}""", """{"t":"\uFFFD"}""")]
    [TestCase("""{"\ud800":1}""", """{"\uFFFD":1}""")]
    [TestCase("""["\\ud83d"]""", """["\\ud83d"]""")]
    [TestCase("""["\"\ud83d"]""", """["\"\uFFFD"]""")]
    public void Replace_LoneSurrogates_BecomeReplacementCharacter(string json, string expected)
    {
        var replaced = Replace(json);

        Assert.That(replaced, Is.EqualTo(expected));
        Assert.That(() => JsonDocument.Parse(replaced).RootElement.ToString(), Throws.Nothing);
    }

    [TestCase("""{"t":"\ud83d\ude00 fine","u":"caf\u00e9"}""")]
    [TestCase("""{"t":"plain"}""")]
    [TestCase("""{"t":"\\u0041"}""")]
    public void Replace_NothingUnpaired_SameMemoryBack(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        ReadOnlyMemory<byte> memory = bytes;

        var result = LoneSurrogates.Replace(memory);

        Assert.That(result.Equals(memory), Is.True, "no copy when nothing changes");
    }

    [Test]
    public void Replace_ResultReadsAsText_WhereTheOriginalCannot()
    {
        var body = Encoding.UTF8.GetBytes("""{"messages":[{"content":"a \udbff b"}]}""");
        using var original = JsonDocument.Parse(body);
        Assert.That(() => original.RootElement.GetProperty("messages")[0].GetProperty("content").GetString(), Throws.InvalidOperationException);

        using var replaced = JsonDocument.Parse(LoneSurrogates.Replace(body));

        Assert.That(replaced.RootElement.GetProperty("messages")[0].GetProperty("content").GetString(), Is.EqualTo("a \uFFFD b"));
    }
}
