using System.Diagnostics;
using System.Net;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Hosting;

/// <summary>
/// The binary published by tools/publish.sh (the Dockerfile's command; test.sh runs it first) starts,
/// reads its appsettings.json and channel folder, serves, and answers its own healthcheck verb.
/// </summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class PublishedBinaryTests
{
    private static string Published => Path.Combine(RepoPaths.Root, "artifacts", "publish");

    [Test]
    public async Task PublishedBinary_Starts_ServesAndPassesHealthcheck()
    {
        var binary = Path.Combine(Published, "ccx-proxy");
        Assert.That(File.Exists(binary), Is.True, "artifacts/publish/ccx-proxy is missing: run ./test.sh, which publishes it first");
        Assert.That(File.Exists(Path.Combine(Published, "appsettings.json")), Is.True);
        Assert.That(File.Exists(Path.Combine(Published, "channels", "anthropic.json")), Is.True);

        var port = FreePort.Get();
        var url = $"http://127.0.0.1:{port}";
        var start = new ProcessStartInfo(binary) { WorkingDirectory = Published, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--urls");
        start.ArgumentList.Add(url);
        start.Environment["PROXY_ACCESS_KEY"] = TestGateway.AccessKey;
        start.Environment["Admin__AccessKey"] = TestGateway.AdminKey;
        start.Environment["ANTHROPIC_API_KEY"] = FakeKeys.Upstream;
        start.Environment["Shutdown__DelaySeconds"] = "0.5";
        start.Environment["Shutdown__DrainSeconds"] = "1";
        using var gateway = Process.Start(start)!;
        var output = gateway.StandardOutput.ReadToEndAsync();
        var errors = gateway.StandardError.ReadToEndAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(5) };
            var ready = await PollAsync(client, "/readyz");
            Assert.That(ready, Is.EqualTo(HttpStatusCode.OK));

            // The example channel from channels/ is loaded (its key comes from ANTHROPIC_API_KEY).
            using var status = new HttpRequestMessage(HttpMethod.Get, "/status");
            status.Headers.Add("x-api-key", TestGateway.AdminKey);
            var body = await (await client.SendAsync(status)).Content.ReadAsStringAsync();
            Assert.That(body, Does.Contain("\"name\":\"anthropic\""));
            Assert.That(body, Does.Not.Contain(FakeKeys.Upstream));

            Assert.That(await RunHealthcheckAsync(binary, url + "/livez"), Is.Zero);

            // SIGTERM, as Kubernetes sends it: the process drains and exits by itself, in time and cleanly.
            using (var term = Process.Start("kill", ["-TERM", gateway.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await term.WaitForExitAsync();
            }

            var clock = Stopwatch.StartNew();
            await gateway.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            Assert.That(gateway.ExitCode, Is.Zero);
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            if (!gateway.HasExited)
            {
                gateway.Kill(entireProcessTree: true);
                await gateway.WaitForExitAsync();
            }
        }

        Assert.That(await output + await errors, Does.Not.Contain(FakeKeys.Upstream));
        Assert.That(await RunHealthcheckAsync(binary, url + "/livez"), Is.EqualTo(1), "healthcheck must fail when nothing listens");
    }

    private static async Task<HttpStatusCode?> PollAsync(HttpClient client, string path)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            try
            {
                using var response = await client.GetAsync(path);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return response.StatusCode;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        return null;
    }

    private static async Task<int> RunHealthcheckAsync(string binary, string url)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "healthcheck", "--url", url })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return process.ExitCode;
    }
}
