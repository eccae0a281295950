using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Two WireMock provider upstreams, fresh for every test: the preferred one (<see cref="A"/>) and the fallback
/// (<see cref="B"/>). Each answers like a provider until a test maps what it should do instead.
/// </summary>
public abstract class TwoProviders
{
    protected WireMockServer A { get; private set; } = null!;

    protected WireMockServer B { get; private set; } = null!;

    [SetUp]
    public void StartUpstreams()
    {
        A = WireMockUpstream.StartProvider();
        B = WireMockUpstream.StartProvider();
    }

    [TearDown]
    public void StopUpstreams()
    {
        A.Dispose();
        B.Dispose();
    }
}
