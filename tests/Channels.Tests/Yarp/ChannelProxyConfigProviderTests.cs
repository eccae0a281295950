using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
[CancelAfter(10_000)]
public sealed class ChannelProxyConfigProviderTests
{
    private static ChannelSnapshot Snapshot(long version, params ChannelConfig[] channels) => new(channels, [], version, DateTimeOffset.UnixEpoch, "/channels");

    [Test]
    public void GetConfig_Channels_OneClusterPerChannelWithDestinations()
    {
        var kimi = ChannelTestData.Channel("kimi") with
        {
            BaseUrls = [new Uri("https://api.kimi.com/coding"), new Uri("https://backup.kimi.com/coding")],
            Timeouts = new ChannelTimeouts { Connect = TimeSpan.FromSeconds(3), ResponseHeaders = TimeSpan.FromSeconds(120), Idle = TimeSpan.FromSeconds(900) },
        };
        var anthropic = ChannelTestData.Channel("anthropic") with { BaseUrls = [new Uri("https://api.anthropic.com")] };
        var provider = new ChannelProxyConfigProvider(new FakeChannelStore(Snapshot(3, kimi, anthropic)));

        var config = provider.GetConfig();

        Assert.That(config.Routes, Is.Empty);
        Assert.That(config.Clusters.Select(c => c.ClusterId), Is.EqualTo(new[] { "anthropic", "kimi" }));
        var kimiCluster = config.Clusters.Single(c => c.ClusterId == "kimi");
        var anthropicCluster = config.Clusters.Single(c => c.ClusterId == "anthropic");
        Assert.Multiple(() =>
        {
            Assert.That(config.RevisionId, Is.EqualTo("3"));
            Assert.That(kimiCluster.Destinations!.Keys, Is.EquivalentTo(new[] { "d0", "d1" }));
            Assert.That(kimiCluster.Destinations!["d0"].Address, Is.EqualTo("https://api.kimi.com/coding"));
            Assert.That(kimiCluster.Destinations!["d1"].Address, Is.EqualTo("https://backup.kimi.com/coding"));
            Assert.That(anthropicCluster.Destinations!["d0"].Address, Is.EqualTo("https://api.anthropic.com"));
            Assert.That(kimiCluster.HttpClient!.EnableMultipleHttp2Connections, Is.True);
            Assert.That(kimiCluster.Metadata![ChannelClusterMetadata.ConnectTimeout], Is.EqualTo("00:00:03"));
            Assert.That(kimiCluster.Metadata![ChannelClusterMetadata.ResponseHeadersTimeout], Is.EqualTo("00:02:00"));
            Assert.That(kimiCluster.Metadata![ChannelClusterMetadata.IdleTimeout], Is.EqualTo("00:15:00"));
            Assert.That(kimiCluster.HttpRequest, Is.Null, "attempts are sent with the host's request config");
            Assert.That(anthropicCluster.Metadata![ChannelClusterMetadata.ConnectTimeout], Is.EqualTo("00:00:10"));
            Assert.That(kimiCluster.SessionAffinity, Is.Null);
        });
    }

    [Test]
    public void GetConfig_SnapshotUnchanged_SameConfig()
    {
        var provider = new ChannelProxyConfigProvider(new FakeChannelStore(Snapshot(1, ChannelTestData.Channel("a"))));
        var first = provider.GetConfig();
        var second = provider.GetConfig();
        Assert.That(second, Is.SameAs(first));
    }

    [Test]
    public void GetConfig_StorePublishes_TokenFiresAndNextConfigHasNewClusters()
    {
        var store = new FakeChannelStore(Snapshot(1, ChannelTestData.Channel("a")));
        var provider = new ChannelProxyConfigProvider(store);
        var first = provider.GetConfig();

        store.Publish(Snapshot(2, ChannelTestData.Channel("a"), ChannelTestData.Channel("b")));

        Assert.Multiple(() =>
        {
            Assert.That(first.ChangeToken.HasChanged, Is.True);
            Assert.That(provider.GetConfig().Clusters.Select(c => c.ClusterId), Is.EqualTo(new[] { "a", "b" }));
            Assert.That(provider.GetConfig().ChangeToken.HasChanged, Is.False);
        });
    }

    [Test]
    public async Task GetConfig_ChannelFileEdited_ChangeTokenFires()
    {
        using var dir = new TempDirectory();
        dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://one.example.com"));
        await using var harness = await WatcherHarness.StartAsync(dir.Path);
        var provider = new ChannelProxyConfigProvider(harness.Watcher);
        var config = provider.GetConfig();
        Assert.That(config.Clusters.Single().Destinations!["d0"].Address, Is.EqualTo("https://one.example.com"));
        var fired = new TaskCompletionSource();
        using var registration = config.ChangeToken.RegisterChangeCallback(_ => fired.TrySetResult(), null);

        dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://two.example.com"));

        await fired.Task.WaitAsync(WatcherHarness.ObserveTimeout);
        Assert.That(provider.GetConfig().Clusters.Single().Destinations!["d0"].Address, Is.EqualTo("https://two.example.com"));
    }
}
