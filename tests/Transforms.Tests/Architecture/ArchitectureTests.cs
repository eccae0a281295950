using System.Reflection;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;
using NetArchTest.Rules;

namespace CcxProxy.Transforms.Tests.Architecture;

/// <summary>
/// The reference rules of ../shared/DESIGN.md that hold the Transforms project: its core (every folder but
/// <c>Adapter</c>) is the BCL and System.Text.Json only, so it can be read, tested and benchmarked without a host;
/// YARP and ASP.NET Core types live in the adapter folder; and it knows nothing of Channels or the host.
/// </summary>
[TestFixture]
public sealed class ArchitectureTests
{
    private const string Adapter = "CcxProxy.Transforms.Adapter";

    private static readonly Assembly s_transforms = typeof(WireProtocol).Assembly;

    [Test]
    public void Core_UsesNeitherYarpNorAspNetCore_OutsideTheAdapterFolder()
    {
        var result = Types.InAssembly(s_transforms)
            .That().DoNotResideInNamespace(Adapter)
            .ShouldNot().HaveDependencyOnAny("Yarp", "Microsoft.AspNetCore")
            .GetResult();

        Assert.That(result.FailingTypeNames ?? [], Is.Empty, "core types that use YARP or ASP.NET Core: move them to src/Transforms/Adapter");
    }

    [Test]
    public void AdapterFolder_HoldsTheTypesThatUseYarpOrAspNetCore()
    {
        // The rule above must be able to fail: the adapter really does use them.
        var adapter = Types.InAssembly(s_transforms).That().ResideInNamespace(Adapter)
            .And().HaveDependencyOnAny("Yarp", "Microsoft.AspNetCore").GetTypes();

        Assert.That(adapter.Select(t => t.Name), Does.Contain("GatewayTransformer").And.Contain("ResponseRelay"));
    }

    [Test]
    public void Transforms_KnowsNothingOfChannelsOrTheHost()
    {
        // Types of an assembly it does not reference cannot be used: the references say it all.
        var references = s_transforms.GetReferencedAssemblies().Select(a => a.Name);

        Assert.That(references, Has.None.StartsWith("CcxProxy").And.None.EqualTo("ccx-proxy"));
    }
}
