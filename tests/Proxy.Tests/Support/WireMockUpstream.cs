using CcxProxy.TestSupport;
using WireMock.Server;
using WireMock.Settings;

namespace CcxProxy.Tests.Support;

/// <summary>A WireMock.Net upstream as the tests use it: loopback only, on a free port, no admin API.</summary>
/// <remarks>
/// In WireMock.Net 1.25.0 a <c>WithSseBody</c> response streams its events on the first matching call only; later
/// calls get a 200 with an empty body (checked with a plain HttpClient). A test that needs one stream per call uses
/// the Kestrel fake (tests/TestSupport/FakeUpstream.cs), or one mapping per call.
/// </remarks>
public static class WireMockUpstream
{
    public static WireMockServer Start() => WireMockServer.Start(new WireMockServerSettings
    {
        Urls = [$"http://127.0.0.1:{FreePort.Get()}"],
        StartAdminInterface = false,
    });

}
