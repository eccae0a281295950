using CcxProxy.TestSupport;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// Two Kestrel fake upstreams, fresh for every test: the preferred one (<see cref="A"/>) and the fallback
/// (<see cref="B"/>). For faults WireMock cannot play: a stream cut mid-way, a reset, an upstream killed, a stall
/// that lasts until the gateway gives up. Everything else uses <see cref="TwoProviders"/>.
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
