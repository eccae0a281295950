using System.Diagnostics;
using System.Net;
using CcxProxy.Tests.Support;
using WireMock.Server;

namespace CcxProxy.Tests.Channels;

/// <summary>
/// Channel files change under a running gateway: each change is live within 2 seconds, a broken file
/// never takes a working channel down, and a Kubernetes ConfigMap update (the ..data symlink swap) is seen.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class HotReloadTests
{
    private static readonly TimeSpan s_reloadBudget = TimeSpan.FromSeconds(2);

    private WireMockServer _upstream = null!;

    [SetUp]
    public void SetUp() => _upstream = WireMockUpstream.StartProvider();

    [TearDown]
    public void TearDown() => _upstream.Dispose();

    private string Channel(string mappedTo, string extra = "") =>
        TestGateway.AnthropicChannel(_upstream.BaseUrl(), $$""" "modelMapping": { "opus": "{{mappedTo}}" }{{extra}} """);

    private static string Body(string model) => $$"""{"model":"{{model}}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}""";

    /// <summary>Sends requests until the upstream sees <paramref name="expected"/> or the reload budget (plus slack for a busy machine) runs out.</summary>
    private async Task<TimeSpan> UpstreamModelBecomesAsync(TestGateway gateway, string expected, string requestModel = "claude-opus-4-7")
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < s_reloadBudget * 3)
        {
            var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(requestModel)));
            if (response.StatusCode == HttpStatusCode.OK && _upstream.Received()[^1].Model == expected)
            {
                return clock.Elapsed;
            }

            await Task.Delay(50);
        }

        Assert.Fail($"the upstream never saw model '{expected}'; last was '{_upstream.Received().LastOrDefault()?.Model}'");
        return clock.Elapsed;
    }

    private static async Task<HttpStatusCode> StatusBecomesAsync(TestGateway gateway, string model, HttpStatusCode expected)
    {
        var clock = Stopwatch.StartNew();
        HttpStatusCode last;
        do
        {
            (var response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body(model)));
            last = response.StatusCode;
            if (last == expected)
            {
                break;
            }

            await Task.Delay(50);
        }
        while (clock.Elapsed < s_reloadBudget * 3);

        return last;
    }

    [Test]
    public async Task EditedFile_NewMappingLive_WithoutRestart()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["a.json"] = Channel("first") });
        await UpstreamModelBecomesAsync(gateway, "first");

        await gateway.WriteChannelAsync("a.json", Channel("second"));

        var took = await UpstreamModelBecomesAsync(gateway, "second");
        Assert.That(took, Is.LessThan(s_reloadBudget * 3));
    }

    [Test]
    public async Task CorruptedFile_LastGoodStaysLive_AndRejectionIsVisible()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["a.json"] = Channel("good") });
        await UpstreamModelBecomesAsync(gateway, "good");

        await gateway.WriteChannelAsync("a.json", """{ "type": "anthropic", "baseUrl": "not a url", "apiKeys": [] """);
        var rejected = await StatusShowsRejectionAsync(gateway, "a.json");

        Assert.That(rejected, Does.Contain("a.json"));
        var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages", Body("claude-opus-4-7")));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received()[^1].Model, Is.EqualTo("good"));
        Assert.That(gateway.Logs.All, Does.Contain("a.json"));

        // Fixing the file clears the rejection and the fixed version goes live.
        await gateway.WriteChannelAsync("a.json", Channel("fixed"));
        await UpstreamModelBecomesAsync(gateway, "fixed");
    }

    [Test]
    public async Task AddedAndRemovedFiles_ChannelsAppearAndDisappear()
    {
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = Channel("a-model", """, "models": ["claude-*"]"""),
        });
        Assert.That(await StatusBecomesAsync(gateway, "gpt-4o", HttpStatusCode.NotFound), Is.EqualTo(HttpStatusCode.NotFound));

        await gateway.WriteChannelAsync("b.json", TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "models": ["gpt-*"] """));
        Assert.That(await StatusBecomesAsync(gateway, "gpt-4o", HttpStatusCode.OK), Is.EqualTo(HttpStatusCode.OK));

        File.Delete(Path.Combine(gateway.ChannelsDirectory, "b.json"));
        Assert.That(await StatusBecomesAsync(gateway, "gpt-4o", HttpStatusCode.NotFound), Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task ConfigMapSymlinkSwap_NewVersionLive()
    {
        // The layout kubelet writes for a ConfigMap volume: a.json -> ..data/a.json, ..data -> ..<timestamp>.
        var mount = Directory.CreateTempSubdirectory("ccx-configmap-").FullName;
        var v1 = Directory.CreateDirectory(Path.Combine(mount, "..2026_11_23_10_00_00.1")).FullName;
        await File.WriteAllTextAsync(Path.Combine(v1, "a.json"), Channel("v1"));
        Directory.CreateSymbolicLink(Path.Combine(mount, "..data"), Path.GetFileName(v1));
        File.CreateSymbolicLink(Path.Combine(mount, "a.json"), Path.Combine("..data", "a.json"));

        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Channels:Directory"] = mount });
        await UpstreamModelBecomesAsync(gateway, "v1");

        var v2 = Directory.CreateDirectory(Path.Combine(mount, "..2026_11_23_10_05_00.2")).FullName;
        await File.WriteAllTextAsync(Path.Combine(v2, "a.json"), Channel("v2"));
        Directory.CreateSymbolicLink(Path.Combine(mount, "..data_tmp"), Path.GetFileName(v2));
        // kubelet swaps with rename(2), atomically replacing the ..data link (File.Move refuses a link to a folder).
        Assert.That(Rename(Path.Combine(mount, "..data_tmp"), Path.Combine(mount, "..data")), Is.Zero);
        Directory.Delete(v1, recursive: true);

        await UpstreamModelBecomesAsync(gateway, "v2");
        Directory.Delete(mount, recursive: true);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rename", SetLastError = true)]
    private static extern int Rename([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string from,
        [System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string to);

    private static async Task<string> StatusShowsRejectionAsync(TestGateway gateway, string file)
    {
        var clock = Stopwatch.StartNew();
        var text = "";
        while (clock.Elapsed < s_reloadBudget * 3)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/status");
            request.Headers.Add("x-api-key", TestGateway.AdminKey);
            using var response = await gateway.Client.SendAsync(request);
            text = await response.Content.ReadAsStringAsync();
            var rejected = System.Text.Json.Nodes.JsonNode.Parse(text)!["rejected"]!.AsArray();
            if (rejected.Any(r => r!["file"]!.GetValue<string>() == file))
            {
                return rejected.ToJsonString();
            }

            await Task.Delay(50);
        }

        Assert.Fail("no rejection on /status: " + text);
        return text;
    }
}
