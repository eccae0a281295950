using Microsoft.Extensions.Logging;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
[CancelAfter(10_000)]
public sealed class ChannelDirectoryWatcherTests
{
    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static Uri BaseUrlOf(ChannelSnapshot snapshot, string name) => snapshot.Find(name)!.BaseUrls[0];

    [Test]
    public void Constructor_FilesPresent_LoadedSynchronously()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        _dir.Write("b.json", ChannelTestData.Json(name: "bee"));

        using var harness = WatcherHarness.Manual(_dir.Path);
        var snapshot = harness.Watcher.Current;

        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.IsLoaded, Is.True);
            Assert.That(snapshot.Channels.Select(c => c.Name), Is.EqualTo(new[] { "a", "bee" }));
            Assert.That(snapshot.Rejected, Is.Empty);
            Assert.That(snapshot.Version, Is.EqualTo(1));
            Assert.That(snapshot.Directory, Is.EqualTo(_dir.Path));
            Assert.That(snapshot.Find("bee")!.SourceFile, Is.EqualTo("b.json"));
        });
    }

    [Test]
    public void Constructor_EmptyDirectory_LoadedAndEmpty()
    {
        using var harness = WatcherHarness.Manual(_dir.Path);
        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.IsLoaded, Is.True);
            Assert.That(harness.Watcher.Current.Channels, Is.Empty);
        });
    }

    [Test]
    public void Poll_NothingChanged_NoNewSnapshotAndTokenQuiet()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        using var harness = WatcherHarness.Manual(_dir.Path);
        var before = harness.Watcher.Current;
        var token = harness.Watcher.GetChangeToken();

        var published = harness.Watcher.Poll();

        Assert.Multiple(() =>
        {
            Assert.That(published, Is.False);
            Assert.That(harness.Watcher.Current, Is.SameAs(before));
            Assert.That(token.HasChanged, Is.False);
        });
    }

    [Test]
    public void Poll_SameBytesRewritten_NoNewSnapshot()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        using var harness = WatcherHarness.Manual(_dir.Path);
        var before = harness.Watcher.Current;

        _dir.Write("a.json", ChannelTestData.Json());

        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.Poll(), Is.False);
            Assert.That(harness.Watcher.Current, Is.SameAs(before));
        });
    }

    [Test]
    public async Task Poll_FileEdited_NewVersionLiveAndTokenFires()
    {
        _dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://one.example.com"));
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);
        var token = harness.Watcher.GetChangeToken();
        var fired = new TaskCompletionSource();
        using var registration = token.RegisterChangeCallback(_ => fired.TrySetResult(), null);
        var before = harness.Watcher.Current;

        _dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://two.example.com"));

        var after = await harness.WaitForAsync(s => BaseUrlOf(s, "a").Host == "two.example.com", "edited baseUrl");
        await fired.Task.WaitAsync(WatcherHarness.ObserveTimeout);
        Assert.Multiple(() =>
        {
            Assert.That(after.Version, Is.GreaterThan(before.Version));
            Assert.That(before.Find("a")!.BaseUrls[0].Host, Is.EqualTo("one.example.com"), "old snapshot is immutable");
        });
    }

    [Test]
    public async Task Poll_CaFileRotated_ChannelReloadedWithTheNewCa_BrokenCaKeepsLastGood()
    {
        using var first = CcxProxy.TestSupport.TestCertificateAuthority.Create("first CA");
        using var second = CcxProxy.TestSupport.TestCertificateAuthority.Create("second CA");
        _dir.Write("ca.pem", File.ReadAllText(first.PemPath));
        _dir.Write("a.json", ChannelTestData.Json(extra: ""","caCertificates":["ca.pem"]"""));
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);
        Assert.That(harness.Watcher.Current.Rejected, Is.Empty, () => string.Join("; ", harness.Watcher.Current.Rejected.SelectMany(r => r.Errors)));
        var before = harness.Watcher.Current.Find("a")!;
        Assert.That(before.CaCertificatesPem, Is.EqualTo(first.Certificate.ExportCertificatePem() + "\n"));

        // The Secret behind the mount is updated; the channel file itself is untouched.
        _dir.Write("ca.pem", File.ReadAllText(second.PemPath));
        var rotated = await harness.WaitForAsync(s => s.Find("a")!.CaCertificatesPem != before.CaCertificatesPem, "rotated CA");
        Assert.That(rotated.Find("a")!.CaCertificatesPem, Is.EqualTo(second.Certificate.ExportCertificatePem() + "\n"));

        _dir.Write("ca.pem", "garbage");
        var broken = await harness.WaitForAsync(s => s.Rejected.Count == 1, "rejected CA file");
        Assert.That(broken.Find("a")!.CaCertificatesPem, Is.EqualTo(rotated.Find("a")!.CaCertificatesPem), "last good stays live");
    }

    [Test]
    public async Task Poll_FileAdded_ChannelAppears()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);

        _dir.Write("b.json", ChannelTestData.Json());

        await harness.WaitForAsync(s => s.Channels.Count == 2 && s.Find("b") is not null, "added b.json");
    }

    [Test]
    public async Task Poll_FileRemoved_ChannelAndRejectionGone()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        _dir.Write("b.json", ChannelTestData.Json());
        _dir.Write("bad.json", "{");
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);
        Assert.That(harness.Watcher.Current.Rejected, Has.Count.EqualTo(1));

        File.Delete(_dir["b.json"]);
        File.Delete(_dir["bad.json"]);

        await harness.WaitForAsync(s => s.Channels.Count == 1 && s.Find("a") is not null && s.Rejected.Count == 0, "removed b.json and bad.json");
    }

    [Test]
    public async Task Poll_FileCorruptedThenFixed_LastGoodStaysLiveThenRejectionCleared()
    {
        _dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://good.example.com"));
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);

        _dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://good.example.com", extra: ",\"weight\":0"));

        var rejected = await harness.WaitForAsync(s => s.Rejected.Count == 1, "corrupt a.json rejected");
        Assert.Multiple(() =>
        {
            Assert.That(rejected.Rejected[0].File, Is.EqualTo("a.json"));
            Assert.That(rejected.Rejected[0].LastGoodStillLive, Is.True);
            Assert.That(rejected.Rejected[0].Errors.Select(e => e.Field), Is.EqualTo(new[] { "weight" }));
            Assert.That(BaseUrlOf(rejected, "a").Host, Is.EqualTo("good.example.com"));
            Assert.That(rejected.Find("a")!.Weight, Is.EqualTo(1));
        });

        _dir.Write("a.json", ChannelTestData.Json(baseUrl: "https://fixed.example.com"));

        var fixedSnapshot = await harness.WaitForAsync(s => s.Rejected.Count == 0 && BaseUrlOf(s, "a").Host == "fixed.example.com", "fixed a.json live");
        Assert.That(fixedSnapshot.Channels, Has.Count.EqualTo(1));
    }

    [Test]
    public void Poll_NewFileInvalid_RejectedWithoutLastGood()
    {
        _dir.Write("new.json", """{"type":"anthropic"}""");

        using var harness = WatcherHarness.Manual(_dir.Path);
        var snapshot = harness.Watcher.Current;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Channels, Is.Empty);
            Assert.That(snapshot.Rejected, Has.Count.EqualTo(1));
            Assert.That(snapshot.Rejected[0].LastGoodStillLive, Is.False);
            Assert.That(snapshot.Rejected[0].Errors.Select(e => e.Field), Is.EquivalentTo(new[] { "baseUrl", "apiKeys" }));
        });
    }

    [Test]
    public void Poll_RejectedFileUnchanged_LoggedOnceAndRejectedAtStable()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        using var harness = WatcherHarness.Manual(_dir.Path);
        _dir.Write("a.json", ChannelTestData.Json(extra: ",\"weight\":0,\"priority\":\"x\""));

        harness.Watcher.Poll();
        var first = harness.Watcher.Current.Rejected.Single();
        harness.Watcher.Poll();
        harness.Watcher.Poll();

        var errorLogs = harness.Logger.Entries.Where(e => e.Level == LogLevel.Warning && e.Message.StartsWith("Channel file a.json: ", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(errorLogs.Select(e => e.Message), Is.EquivalentTo(new[]
            {
                "Channel file a.json: weight: must be between 1 and 1000000",
                "Channel file a.json: priority: expected an integer, found a string",
            }));
            Assert.That(harness.Watcher.Current.Rejected.Single().RejectedAt, Is.EqualTo(first.RejectedAt));
        });
    }

    [Test]
    public void Poll_RejectedFile_LogsNeverContainSecrets()
    {
        _dir.Write("a.json", """{"type":"anthropic","baseUrl":"https://x.example.com","apiKeys":["sk-super-secret","sk-super-secret"],"headers":{"X-A":"env:HDR","Host":"h"}}""");

        using var harness = WatcherHarness.Manual(_dir.Path, name => name == "HDR" ? "header-secret" : null);

        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.Current.Rejected, Has.Count.EqualTo(1));
            Assert.That(harness.Logger.Entries, Is.Not.Empty);
            Assert.That(harness.Logger.Entries.Select(e => e.Message), Has.None.Contain("sk-super-secret"));
            Assert.That(harness.Logger.Entries.Select(e => e.Message), Has.None.Contain("header-secret"));
        });
    }

    [Test]
    public void Poll_DuplicateNames_LaterFileRejectedNamingEarlier()
    {
        _dir.Write("a.json", ChannelTestData.Json(name: "shared", baseUrl: "https://a.example.com"));
        _dir.Write("b.json", ChannelTestData.Json(name: "Shared", baseUrl: "https://b.example.com"));

        using var harness = WatcherHarness.Manual(_dir.Path);
        var snapshot = harness.Watcher.Current;

        Assert.Multiple(() =>
        {
            Assert.That(snapshot.Channels.Select(c => c.SourceFile), Is.EqualTo(new[] { "a.json" }));
            Assert.That(snapshot.Rejected.Single().File, Is.EqualTo("b.json"));
            Assert.That(snapshot.Rejected.Single().Errors.Single().Field, Is.EqualTo("name"));
            Assert.That(snapshot.Rejected.Single().Errors.Single().Message, Does.Contain("a.json"));
        });

        File.Delete(_dir["a.json"]);
        harness.Watcher.Poll();

        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.Current.Channels.Select(c => c.SourceFile), Is.EqualTo(new[] { "b.json" }));
            Assert.That(harness.Watcher.Current.Rejected, Is.Empty);
        });
    }

    [Test]
    public void Poll_SubfoldersDotFilesOtherExtensions_Ignored()
    {
        _dir.Write("a.json", ChannelTestData.Json());
        _dir.Write(".hidden.json", ChannelTestData.Json());
        _dir.Write("notes.txt", "x");
        _dir.Write("a.json.bak", "x");
        Directory.CreateDirectory(_dir["sub"]);
        TempDirectory.WriteAtomically(Path.Combine(_dir["sub"], "nested.json"), ChannelTestData.Json());

        using var harness = WatcherHarness.Manual(_dir.Path);

        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.Current.Channels.Select(c => c.Name), Is.EqualTo(new[] { "a" }));
            Assert.That(harness.Watcher.Current.Rejected, Is.Empty);
        });
    }

    [Test]
    public async Task Poll_DirectoryMissingThenCreated_EmptyWithWarningThenLoads()
    {
        var missing = _dir["later"];
        await using var harness = await WatcherHarness.StartAsync(missing);
        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.IsLoaded, Is.True);
            Assert.That(harness.Watcher.Current.Channels, Is.Empty);
            Assert.That(harness.Logger.Entries, Has.Some.Matches<(LogLevel Level, string Message)>(e => e.Level == LogLevel.Warning && e.Message.Contains("does not exist", StringComparison.Ordinal)));
        });

        Directory.CreateDirectory(missing);
        TempDirectory.WriteAtomically(Path.Combine(missing, "late.json"), ChannelTestData.Json());

        await harness.WaitForAsync(s => s.Find("late") is not null, "channel in a directory created later");
    }

    [Test]
    public async Task Poll_ConfigMapSymlinkSwap_NewContentLive()
    {
        // The layout kubelet writes for a ConfigMap volume.
        var first = Directory.CreateDirectory(_dir["..2026_11_23_10_00_00.123"]).FullName;
        File.WriteAllText(Path.Combine(first, "kimi.json"), ChannelTestData.Json(baseUrl: "https://old.example.com"));
        File.WriteAllText(Path.Combine(first, "deepseek.json"), ChannelTestData.Json(baseUrl: "https://deepseek.example.com"));
        Directory.CreateSymbolicLink(_dir["..data"], "..2026_11_23_10_00_00.123");
        File.CreateSymbolicLink(_dir["kimi.json"], "..data/kimi.json");
        File.CreateSymbolicLink(_dir["deepseek.json"], "..data/deepseek.json");

        await using var harness = await WatcherHarness.StartAsync(_dir.Path);
        Assert.Multiple(() =>
        {
            Assert.That(harness.Watcher.Current.Channels.Select(c => c.Name), Is.EqualTo(new[] { "deepseek", "kimi" }));
            Assert.That(BaseUrlOf(harness.Watcher.Current, "kimi").Host, Is.EqualTo("old.example.com"));
        });

        var second = Directory.CreateDirectory(_dir["..2026_11_23_10_05_00.456"]).FullName;
        File.WriteAllText(Path.Combine(second, "kimi.json"), ChannelTestData.Json(baseUrl: "https://new.example.com"));
        File.WriteAllText(Path.Combine(second, "deepseek.json"), ChannelTestData.Json(baseUrl: "https://deepseek.example.com"));
        Directory.CreateSymbolicLink(_dir["..data_tmp"], "..2026_11_23_10_05_00.456");
        PosixRename.Replace(_dir["..data_tmp"], _dir["..data"]);
        Directory.Delete(first, recursive: true);

        var swapped = await harness.WaitForAsync(s => BaseUrlOf(s, "kimi").Host == "new.example.com", "kimi.json after the ..data swap");
        Assert.Multiple(() =>
        {
            Assert.That(swapped.Channels.Select(c => c.Name), Is.EqualTo(new[] { "deepseek", "kimi" }));
            Assert.That(swapped.Rejected, Is.Empty);
        });
    }

    [Test]
    public void Poll_KnownFileUnreadableMidSwap_KeepsStateThenPicksUpNewContent()
    {
        _dir.Write("target.data", ChannelTestData.Json(name: "x", baseUrl: "https://one.example.com"));
        File.CreateSymbolicLink(_dir["x.json"], "target.data");
        using var harness = WatcherHarness.Manual(_dir.Path);
        Assert.That(BaseUrlOf(harness.Watcher.Current, "x").Host, Is.EqualTo("one.example.com"));

        // x.json dangles: reading it throws, so its state stays as it was.
        File.Move(_dir["target.data"], _dir["target.moved"]);
        var published = harness.Watcher.Poll();
        Assert.Multiple(() =>
        {
            Assert.That(published, Is.False);
            Assert.That(BaseUrlOf(harness.Watcher.Current, "x").Host, Is.EqualTo("one.example.com"));
        });

        _dir.Write("target.data", ChannelTestData.Json(name: "x", baseUrl: "https://two.example.com"));
        harness.Watcher.Poll();
        Assert.That(BaseUrlOf(harness.Watcher.Current, "x").Host, Is.EqualTo("two.example.com"));
    }

    [Test]
    public void Poll_UnknownFileUnreadable_TreatedAsAbsentUntilReadable()
    {
        File.CreateSymbolicLink(_dir["x.json"], "target.data");
        using var harness = WatcherHarness.Manual(_dir.Path);
        Assert.That(harness.Watcher.Current.Channels, Is.Empty);

        _dir.Write("target.data", ChannelTestData.Json(name: "x"));
        harness.Watcher.Poll();
        Assert.That(harness.Watcher.Current.Find("x"), Is.Not.Null);
    }
}
