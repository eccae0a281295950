using System.Text;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests.Loading;

/// <summary><c>groups.json</c> beside the channel files: parsed, validated, hot reloaded, never taken for a channel.</summary>
[TestFixture]
[CancelAfter(20_000)]
public sealed class GroupsFileTests
{
    private const string Channel = """{"type":"anthropic","baseUrl":"https://api.anthropic.com","apiKeys":["k"]}""";
    private const string Groups = """
        {
          // Comments are fine here too.
          "groups": {
            "team-b": {
              "models": ["claude-sonnet-*"],
              "limits": { "requestsPerMinute": 60, "inputTokensPerMinute": 200000, "outputTokensPerMinute": 40000,
                          "concurrency": 4, "quota": { "tokens": 5000000, "period": "month" } }
            },
            "default": {}
          }
        }
        """;

    private TempDirectory _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDirectory();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public void Parse_EveryField()
    {
        var result = GroupsFileParser.Parse("groups.json", Encoding.UTF8.GetBytes(Groups));

        Assert.That(result.Errors, Is.Empty);
        var team = result.Groups!["team-b"];
        Assert.That(team.Models, Is.EqualTo(new[] { "claude-sonnet-*" }));
        Assert.That(team.AllowsModel("claude-sonnet-4-6"), Is.True);
        Assert.That(team.AllowsModel("claude-opus-4-7"), Is.False);
        Assert.That(team.Limits, Is.EqualTo(new GroupLimits
        {
            RequestsPerMinute = 60, InputTokensPerMinute = 200000, OutputTokensPerMinute = 40000, Concurrency = 4, QuotaTokens = 5000000, QuotaPeriod = "month",
        }));
        Assert.That(result.Groups["default"].AllowsModel("anything"), Is.True);
    }

    [Test]
    public void Parse_Cache_DefaultsAndEveryField()
    {
        var result = GroupsFileParser.Parse("groups.json", Encoding.UTF8.GetBytes("""
            {"groups": {
              "a": {"cache": {"ttlSeconds": 600}},
              "b": {"cache": {"ttlSeconds": 86400, "maxEntryBytes": 65536, "mode": "on-request"}},
              "c": {}
            }}
            """));

        Assert.That(result.Errors, Is.Empty);
        Assert.That(result.Groups!["a"].Cache, Is.EqualTo(new ResponseCacheConfig { Ttl = TimeSpan.FromMinutes(10), MaxEntryBytes = 1024 * 1024, Mode = ResponseCacheMode.Always }));
        Assert.That(result.Groups["b"].Cache, Is.EqualTo(new ResponseCacheConfig { Ttl = TimeSpan.FromDays(1), MaxEntryBytes = 65536, Mode = ResponseCacheMode.OnRequest }));
        Assert.That(result.Groups["c"].Cache, Is.Null, "no cache unless the group asks for one");
    }

    [Test]
    public void Parse_CacheErrors_NamedWithFieldPaths()
    {
        var result = GroupsFileParser.Parse("groups.json", Encoding.UTF8.GetBytes("""
            {"groups": {
              "a": {"cache": {"maxEntryBytes": 1024}},
              "b": {"cache": {"ttlSeconds": 0, "maxEntryBytes": 16777217, "mode": "sometimes", "size": 1}},
              "c": {"cache": {"ttlSeconds": 2592001}},
              "d": {"cache": true}
            }}
            """));

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Errors.Select(e => e.Field), Is.EquivalentTo(new[]
        {
            "groups.a.cache.ttlSeconds", "groups.b.cache.ttlSeconds", "groups.b.cache.maxEntryBytes",
            "groups.b.cache.mode", "groups.b.cache.size", "groups.c.cache.ttlSeconds", "groups.d.cache",
        }));
        Assert.That(result.Errors.Single(e => e.Field == "groups.b.cache.maxEntryBytes").Message, Does.Contain("16777216"));
        Assert.That(result.Errors.Single(e => e.Field == "groups.a.cache.ttlSeconds").Message, Does.StartWith("required"));
    }

    [Test]
    public void Parse_Errors_AllReportedWithFieldPaths()
    {
        var result = GroupsFileParser.Parse("groups.json", Encoding.UTF8.GetBytes("""
            {"groups": {"a b": {}, "x": {"models": "claude", "limits": {"requestsPerMinute": 0, "rpm": 5, "quota": {"period": "week"}}, "extra": 1}}, "other": 1}
            """));

        Assert.That(result.IsValid, Is.False);
        Assert.That(result.Errors.Select(e => e.Field), Is.EquivalentTo(new[]
        {
            "groups.a b", "groups.x.models", "groups.x.limits.requestsPerMinute", "groups.x.limits.rpm",
            "groups.x.limits.quota.period", "groups.x.limits.quota.tokens", "groups.x.extra", "other",
        }));
        Assert.That(result.Errors.All(e => e.File == "groups.json"), Is.True);
    }

    [Test]
    public void Watcher_GroupsFileLoaded_NotTakenForAChannel()
    {
        _dir.Write("a.json", Channel);
        _dir.Write("groups.json", Groups);

        using var harness = WatcherHarness.Manual(_dir.Path);
        var snapshot = harness.Watcher.Current;

        Assert.That(snapshot.Channels.Select(c => c.Name), Is.EqualTo(new[] { "a" }));
        Assert.That(snapshot.Rejected, Is.Empty, () => string.Join("\n", snapshot.Rejected.SelectMany(r => r.Errors)));
        Assert.That(snapshot.FindGroup("team-b")!.Limits.Concurrency, Is.EqualTo(4));
        Assert.That(snapshot.FindGroup("nobody"), Is.Null);
    }

    [Test]
    public async Task Watcher_BadEdit_LastGoodGroupsStayLive_FixClearsRejection()
    {
        _dir.Write("a.json", Channel);
        _dir.Write("groups.json", Groups);
        await using var harness = await WatcherHarness.StartAsync(_dir.Path);

        _dir.Write("groups.json", """{"groups": {"team-b": {"limits": {"concurrency": -1}}}}""");
        var rejected = await harness.WaitForAsync(s => s.Rejected.Count == 1, "groups.json rejected");

        Assert.That(rejected.Rejected[0].File, Is.EqualTo("groups.json"));
        Assert.That(rejected.Rejected[0].LastGoodStillLive, Is.True);
        Assert.That(rejected.Rejected[0].Errors.Single().Field, Is.EqualTo("groups.team-b.limits.concurrency"));
        Assert.That(rejected.FindGroup("team-b")!.Limits.Concurrency, Is.EqualTo(4), "the last good version stays live");

        _dir.Write("groups.json", """{"groups": {"team-b": {"limits": {"concurrency": 9}}}}""");
        var fixedSnapshot = await harness.WaitForAsync(s => s.Rejected.Count == 0 && s.FindGroup("team-b")?.Limits.Concurrency == 9, "fixed groups live");
        Assert.That(fixedSnapshot.Channels, Has.Count.EqualTo(1));

        File.Delete(_dir["groups.json"]);
        await harness.WaitForAsync(s => s.Groups.Count == 0, "groups removed");
    }
}
