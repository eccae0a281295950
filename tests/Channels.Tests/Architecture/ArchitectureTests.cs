using System.Reflection;
using NetArchTest.Rules;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests.Architecture;

/// <summary>
/// The reference rules of ../shared/DESIGN.md that hold the Channels project: YARP's config types and the Transforms
/// core's vocabulary, nothing of the host, no ASP.NET request types, no Redis.
/// </summary>
[TestFixture]
public sealed class ArchitectureTests
{
    private static readonly Assembly s_channels = typeof(ChannelConfig).Assembly;

    [Test]
    public void Channels_KnowsNothingOfTheHost()
    {
        var references = s_channels.GetReferencedAssemblies().Select(a => a.Name);

        Assert.That(references, Has.None.EqualTo("ccx-proxy"));
    }

    [Test]
    public void Channels_UsesNoRequestTypesAndNoRedis()
    {
        var result = Types.InAssembly(s_channels)
            .ShouldNot().HaveDependencyOnAny("Microsoft.AspNetCore.Http", "StackExchange.Redis")
            .GetResult();

        Assert.That(result.FailingTypeNames ?? [], Is.Empty);
    }

    [Test]
    public void Channels_UsesOnlyTheVocabularyOfTransforms()
    {
        var transformsNamespaces = new[] { "Adapter", "Conversion", "Forwarding", "Json", "Sse", "Protocols" }.Select(n => "CcxProxy.Transforms." + n).ToArray();
        var result = Types.InAssembly(s_channels).ShouldNot().HaveDependencyOnAny(transformsNamespaces).GetResult();

        Assert.That(result.FailingTypeNames ?? [], Is.Empty);
    }
}
