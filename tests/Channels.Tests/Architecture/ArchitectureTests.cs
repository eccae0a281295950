using System.Reflection;
using CcxProxy.Transforms.Vocabulary;
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
        // Every namespace of Transforms but its vocabulary, read from the assembly so a new folder is covered too.
        var transformsNamespaces = typeof(WireProtocol).Assembly.GetTypes().Select(t => t.Namespace)
            .OfType<string>().Where(n => n.StartsWith("CcxProxy.Transforms", StringComparison.Ordinal) && n != typeof(WireProtocol).Namespace)
            .Distinct().ToArray();

        Assert.That(transformsNamespaces, Does.Contain("CcxProxy.Transforms.Conversion"), "the list is read from the assembly");
        var result = Types.InAssembly(s_channels).ShouldNot().HaveDependencyOnAny(transformsNamespaces).GetResult();

        Assert.That(result.FailingTypeNames ?? [], Is.Empty);
    }
}
