using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Protocols;

/// <summary>The one tool-id rule every conversion uses: valid ids unchanged, others made valid and kept distinct.</summary>
[TestFixture]
public sealed class AnthropicToolIdTests
{
    [TestCase("toolu_01ABC")]
    [TestCase("call_abc-123")]
    public void ValidId_Unchanged(string id) => Assert.That(AnthropicToolId.Sanitize(id), Is.SameAs(id));

    [Test]
    public void InvalidIds_MadeValid_Distinct_AndStable()
    {
        var colon = AnthropicToolId.Sanitize("functions.Bash:0");
        var dot = AnthropicToolId.Sanitize("functions.Bash.0");

        Assert.That(colon, Does.Match("^functions_Bash_0_[0-9a-f]{8}$"));
        Assert.That(dot, Does.Match("^[a-zA-Z0-9_-]+$").And.Not.EqualTo(colon), "two ids never collide");
        Assert.That(AnthropicToolId.Sanitize("functions.Bash:0"), Is.EqualTo(colon), "the same id always maps the same way, so pairs stay paired");
        Assert.That(AnthropicToolId.Sanitize(colon), Is.EqualTo(colon), "idempotent");
        Assert.That(AnthropicToolId.Sanitize("é"), Does.Match("^__[0-9a-f]{8}$"), "a non-ASCII character is a bad character too");
    }

    [Test]
    public void EmptyId_BecomesThePlaceholder() => Assert.That(AnthropicToolId.Sanitize(""), Is.EqualTo(AnthropicToolId.Empty));
}
