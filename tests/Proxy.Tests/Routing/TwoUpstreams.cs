using CcxProxy.TestSupport;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Two Kestrel fake upstreams, fresh for every test: the preferred one (<see cref="A"/>) and the fallback
/// (<see cref="B"/>). For faults WireMock cannot play: a stream cut or stalled mid-way, a reset, a hang before the
/// headers. Tests that need only answers and statuses use <see cref="TwoProviders"/>.
/// </summary>
public abstract class TwoUpstreams
{
    protected FakeUpstream A { get; private set; } = null!;

    protected FakeUpstream B { get; private set; } = null!;

    [SetUp]
    public async Task StartUpstreamsAsync()
    {
        A = await FakeUpstream.StartAsync();
        B = await FakeUpstream.StartAsync();
    }

    [TearDown]
    public async Task StopUpstreamsAsync()
    {
        await A.DisposeAsync();
        await B.DisposeAsync();
    }
}
