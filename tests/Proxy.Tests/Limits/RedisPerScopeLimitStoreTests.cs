using System.Globalization;
using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using StackExchange.Redis;
using static CcxProxy.Tests.Limits.Limits;

namespace CcxProxy.Tests.Limits;

/// <summary>
/// The Redis Cluster path of <see cref="RedisLimitStore"/> (one script call per scope, rollback when a later scope
/// refuses), forced on a single redis-server: no cluster runs here. The contract suite runs on it too.
/// </summary>
[TestFixture]
[Category("Redis")]
public sealed class RedisPerScopeLimitStoreTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly LimitStoreOptions PerScope = new() { ForcePerScopeScripts = true };

    private RedisServer _redis = null!;

    [SetUp]
    public async Task StartRedis() => _redis = await RedisServer.StartAsync();

    [TearDown]
    public async Task StopRedis() => await _redis.DisposeAsync();

    [Test]
    [CancelAfter(30_000)]
    public async Task KeyAdmitsGroupRefuses_KeyCountersLeaseAndQuotaExactlyAsBefore()
    {
        using var connection = await ConnectedAsync(_redis.ConnectionString);
        var store = new RedisLimitStore(connection, PerScope);
        var key = Scope(new CallerLimits
        {
            RequestsPerMinute = 3,
            InputTokensPerMinute = 1000,
            Concurrency = 2,
            Quota = new TokenQuota(100_000, QuotaPeriod.Day),
        });
        var group = Scope(new CallerLimits { RequestsPerMinute = 1, Quota = new TokenQuota(100_000, QuotaPeriod.Total) }, "group");

        Assert.That((await store.AcquireAsync([key, group], "a", 100, None)).Admitted, Is.True);
        var before = await SnapshotAsync(key, group);
        Assert.That(before, Has.Count.EqualTo(6), string.Join("; ", before));

        var refused = await store.AcquireAsync([key, group], "b", 300, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Requests));
        Assert.That(refused.Scope, Is.EqualTo(group.Scope));
        Assert.That(await SnapshotAsync(key, group), Is.EqualTo(before), "a new lease: TATs, slot and quota reservation all undone");

        var again = await store.AcquireAsync([key, group], "a", 300, None);
        Assert.That(again.Violated, Is.EqualTo(LimitKind.Requests));
        Assert.That(await SnapshotAsync(key, group), Is.EqualTo(before), "the same lease again: its slot keeps its earlier expiry");
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task GroupScriptFails_KeyRolledBackAndTheFailureSurfaces()
    {
        using var connection = await ConnectedAsync(_redis.ConnectionString);
        var store = new RedisLimitStore(connection, PerScope);
        var key = Scope(new CallerLimits { RequestsPerMinute = 10, InputTokensPerMinute = 1000, Concurrency = 5, Quota = new TokenQuota(1000, QuotaPeriod.Total) });
        var group = Scope(new CallerLimits { RequestsPerMinute = 10 }, "group");
        Assert.That((await store.AcquireAsync([key], "a", 100, None)).Admitted, Is.True);
        var before = await SnapshotAsync(key, group);

        // A list where the group's TAT should be: its script fails (WRONGTYPE) after the key's has recorded.
        Assert.That(await _redis.CommandAsync("LPUSH", RedisLimitStore.Key(group.Scope, "rpm"), "x"), Is.EqualTo("1"));
        Assert.That(async () => await store.AcquireAsync([key, group], "b", 200, None), Throws.InstanceOf<RedisException>());

        Assert.That(await SnapshotAsync(key), Is.EqualTo(before));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ThreeReplicas_200ConcurrentAcquires_GroupLimit50_Exactly50AdmittedAndTheRestRolledBack()
    {
        var connections = new List<RedisConnection>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                connections.Add(await ConnectedAsync(_redis.ConnectionString));
            }

            var stores = connections.Select(c => new RedisLimitStore(c, PerScope)).ToArray();
            var key = Scope(new CallerLimits { RequestsPerMinute = 1000, InputTokensPerMinute = 10_000, Concurrency = 1000, Quota = new TokenQuota(1_000_000, QuotaPeriod.Total) });
            var group = Scope(new CallerLimits { RequestsPerMinute = 50 }, "group");

            var decisions = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
                Task.Run(() => stores[i % 3].AcquireAsync([key, group], $"lease-{i}", 10, None))));

            Assert.That(decisions.Count(d => d.Admitted), Is.EqualTo(50));
            Assert.That(decisions.Where(d => !d.Admitted).Select(d => (d.Violated, d.Scope)).Distinct(), Is.EqualTo(new[] { ((LimitKind?)LimitKind.Requests, (string?)group.Scope) }));
            Assert.That(await _redis.CommandAsync("ZCARD", RedisLimitStore.Key(key.Scope, "conc")), Is.EqualTo("50"), "only admitted requests hold a key slot");
            Assert.That(await _redis.CommandAsync("GET", RedisLimitStore.Key(key.Scope, "quota:total")), Is.EqualTo("500"), "only admitted requests hold a quota reservation");

            // 50 requests at 60 ms each are 3 s ahead of now (200 would be 12 s); a little less as time passes.
            var now = await RedisNowMsAsync();
            var rpmAhead = Ms(await _redis.CommandAsync("GET", RedisLimitStore.Key(key.Scope, "rpm"))) - now;
            var itpmAhead = Ms(await _redis.CommandAsync("GET", RedisLimitStore.Key(key.Scope, "itpm"))) - now;
            Assert.That(rpmAhead, Is.InRange(1000, 3000.01));
            Assert.That(itpmAhead, Is.InRange(1000, 3000.01), "500 tokens at 6 ms each");
        }
        finally
        {
            connections.ForEach(c => c.Dispose());
        }
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task SingleRedis_Automatic_OneScriptCallForKeyAndGroup_ForcedPerScope_OneCallPerScope()
    {
        using var connection = await ConnectedAsync(_redis.ConnectionString);
        var automatic = new RedisLimitStore(connection);
        var forced = new RedisLimitStore(connection, PerScope);
        var key = Scope(new CallerLimits { RequestsPerMinute = 100 });
        var group = Scope(new CallerLimits { Concurrency = 100 }, "group");
        Assert.That((await automatic.AcquireAsync([key, group], "warm-up", 0, None)).Admitted, Is.True); // loads the script

        Assert.That(await _redis.CommandAsync("CONFIG", "RESETSTAT"), Is.EqualTo("OK"));
        Assert.That((await automatic.AcquireAsync([key, group], "a", 0, None)).Admitted, Is.True);
        Assert.That(await EvalShaCallsAsync(), Is.EqualTo(1), "a standalone server: all scopes in one call");

        Assert.That(await _redis.CommandAsync("CONFIG", "RESETSTAT"), Is.EqualTo("OK"));
        Assert.That((await forced.AcquireAsync([key, group], "b", 0, None)).Admitted, Is.True);
        await forced.RenewAsync([key, group], "b", None);
        await forced.ReleaseAsync([key, group], "b", 0, 0, 0, None);
        Assert.That(await EvalShaCallsAsync(), Is.EqualTo(2 + 1 + 1), "acquire per scope; renew and release only where they write (the group's slot)");
    }

    /// <summary>Every key of the scopes with its value (a slot set with its expiries), sorted.</summary>
    private async Task<List<string>> SnapshotAsync(params LimitScope[] scopes)
    {
        var entries = new List<string>();
        foreach (var scope in scopes)
        {
            var names = (await _redis.CommandAsync("KEYS", RedisLimitStore.Key(scope.Scope, "*"))).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            foreach (var name in names)
            {
                var value = await _redis.CommandAsync("TYPE", name) == "zset"
                    ? await _redis.CommandAsync("ZRANGE", name, "0", "-1", "WITHSCORES")
                    : await _redis.CommandAsync("GET", name);
                entries.Add($"{name}={value.Replace('\n', ' ')}");
            }
        }

        entries.Sort(StringComparer.Ordinal);
        return entries;
    }

    private async Task<double> RedisNowMsAsync()
    {
        var time = (await _redis.CommandAsync("TIME")).Split('\n');
        return (Ms(time[0]) * 1000) + (Ms(time[1]) / 1000);
    }

    private async Task<long> EvalShaCallsAsync()
    {
        var stats = await _redis.CommandAsync("INFO", "commandstats");
        var line = stats.Split("\r\n").Single(l => l.StartsWith("cmdstat_evalsha:", StringComparison.Ordinal));
        var calls = line["cmdstat_evalsha:calls=".Length..line.IndexOf(',', StringComparison.Ordinal)];
        return long.Parse(calls, CultureInfo.InvariantCulture);
    }

    private static double Ms(string value) => double.Parse(value, CultureInfo.InvariantCulture);
}
