using System.Buffers;
using System.Text;
using CcxProxy.Transforms.Json;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Json;

/// <summary>The one spelling of a request the response cache hashes: same value, same bytes; different value, different bytes.</summary>
[TestFixture]
public sealed class CanonicalJsonTests
{
    private static string Canonical(string json)
    {
        var output = new ArrayBufferWriter<byte>();
        Assert.That(CanonicalJson.TryWrite(Encoding.UTF8.GetBytes(json), output), Is.True, json);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Test]
    public void MemberOrderAndWhitespace_DoNotMatter()
    {
        var a = Canonical("""{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":16,"metadata":{"b":1,"a":2}}""");
        var b = Canonical("""
            {
              "max_tokens" : 16,
              "metadata": { "a": 2, "b": 1 },
              "messages": [ { "content": "hi", "role": "user" } ],
              "model": "m"
            }
            """);

        Assert.That(a, Is.EqualTo(b));
        Assert.That(a, Is.EqualTo("""{"max_tokens":16,"messages":[{"content":"hi","role":"user"}],"metadata":{"a":2,"b":1},"model":"m"}"""));
    }

    [TestCase("""{"a":[1,2]}""", """{"a":[2,1]}""")]
    [TestCase("""{"a":"x"}""", """{"a":"y"}""")]
    [TestCase("""{"a":1}""", """{"a":1.0}""")]
    [TestCase("""{"a":"A"}""", """{"a":"\u0041"}""")]
    [TestCase("""{"a":{"b":true}}""", """{"a":{"b":"true"}}""")]
    [TestCase("""{"a":null}""", """{}""")]
    [TestCase("""{"temperature":0}""", """{"temperature":1}""")]
    public void DifferentValuesOrSpellings_StayDifferent(string a, string b) => Assert.That(Canonical(a), Is.Not.EqualTo(Canonical(b)));

    [Test]
    public void DuplicateMembers_KeepTheirOrder() =>
        Assert.That(Canonical("""{"b":0,"a":1,"a":2}"""), Is.EqualTo("""{"a":1,"a":2,"b":0}"""));

    [Test]
    public void LoneSurrogateEscape_KeptAsSent() =>
        Assert.That(Canonical("""{"text":"cut \ud83d","z":1,"a":0}"""), Is.EqualTo("""{"a":0,"text":"cut \ud83d","z":1}"""));

    [TestCase("")]
    [TestCase("{\"a\":")]
    [TestCase("not json")]
    public void NotJson_False(string text) => Assert.That(CanonicalJson.TryWrite(Encoding.UTF8.GetBytes(text), new ArrayBufferWriter<byte>()), Is.False);
}
