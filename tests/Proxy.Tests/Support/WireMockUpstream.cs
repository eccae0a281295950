using CcxProxy.TestSupport;
using WireMock.Server;
using WireMock.Settings;

namespace CcxProxy.Tests.Support;

/// <summary>A WireMock.Net upstream as the tests use it: loopback only, on a free port, no admin API.</summary>
public static class WireMockUpstream
{
    public static WireMockServer Start() => WireMockServer.Start(new WireMockServerSettings
    {
        Urls = [$"http://127.0.0.1:{FreePort.Get()}"],
        StartAdminInterface = false,
    });

}
