using System.Text.Json;
using CcxProxy.Transforms.Json;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Json;

/// <summary>
/// What the request converters and the relay treat as JSON of another shape (the sender's fault: a 400, a bad answer, a
/// broken stream) and what stays an exception (the gateway's own fault, logged with its stack).
/// </summary>
[TestFixture]
public sealed class JsonShapeTests
{
    private static Exception Thrown(Action action)
    {
        try
        {
            action();
        }
        catch (Exception ex)
        {
            return ex;
        }

        throw new AssertionException("nothing was thrown");
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    [Test]
    public void WhatSystemTextJsonThrowsForAnotherShape_IsWrongShape() => Assert.Multiple(() =>
    {
        Assert.That(JsonShape.IsWrongShape(Thrown(() => Parse("""{"n":"x"}""").GetProperty("n").GetInt32())), Is.True, "a string where a number goes");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => Parse("""[1]""").GetProperty("n"))), Is.True, "an array where an object goes");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => Parse("""{}""").GetProperty("n"))), Is.True, "a property that is not there");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => Parse("""{"d":"not a date"}""").GetProperty("d").GetDateTime())), Is.True, "a value that does not parse");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => JsonDocument.Parse("{not json"))), Is.True, "not JSON");
    });

    [Test]
    public void WhatOtherCodeThrows_IsNot() => Assert.Multiple(() =>
    {
        Assert.That(JsonShape.IsWrongShape(new InvalidOperationException("a hub converter wrote part of an SSE frame")), Is.False, "a converter's own invariant");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => _ = new Dictionary<string, int>()["missing"])), Is.False, "a lookup of the gateway's own");
        Assert.That(JsonShape.IsWrongShape(Thrown(() => new List<int>().First())), Is.False, "LINQ");
    });
}
