using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using static CcxProxy.Tests.Limits.Limits;

namespace CcxProxy.Tests.Limits;

/// <summary>What only the Redis store has: several replicas on one Redis, key names and TTLs, the script cache.</summary>
[TestFixture]
[Category("Redis")]
public sealed class RedisLimitStoreTests
{
    private RedisServer _redis = null!;

    [SetUp]
    public async Task StartRedis() => _redis = await RedisServer.StartAsync();

    [TearDown]
    public async Task StopRedis() => await _redis.DisposeAsync();

    [Test]
    [CancelAfter(30_000)]
    public async Task ThreeReplicas_200ConcurrentAcquires_ExactlyTheLimitAdmitted()
    {
        var connections = new List<RedisConnection>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                connections.Add(await ConnectedAsync(_redis.ConnectionString));
            }

            var stores = connections.Select(c => new RedisLimitStore(c)).ToArray();
            var scope = Scope(new CallerLimits { RequestsPerMinute = 50 });
            var group = Scope(new CallerLimits { Concurrency = 1000 }, "group");

            var decisions = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
                Task.Run(() => stores[i % 3].AcquireAsync([scope, group], $"lease-{i}", 10, CancellationToken.None))));

            Assert.That(decisions.Count(d => d.Admitted), Is.EqualTo(50));
            Assert.That(decisions.Where(d => !d.Admitted).Select(d => d.Violated).Distinct(), Is.EqualTo(new LimitKind?[] { LimitKind.Requests }));
            Assert.That(await _redis.CommandAsync("ZCARD", RedisLimitStore.Key(group.Scope, "conc")), Is.EqualTo("50"), "only admitted requests hold a slot");
        }
        finally
        {
            connections.ForEach(c => c.Dispose());
        }
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Keys_AfterARun_AllHaveATtlExceptTotalQuotaAndHoldNoSecret()
    {
        using var connection = await ConnectedAsync(_redis.ConnectionString);
        var store = new RedisLimitStore(connection);
        var key = new LimitScope("key:ab12cd34ef56", new CallerLimits
        {
            RequestsPerMinute = 100,
            InputTokensPerMinute = 10_000,
            OutputTokensPerMinute = 10_000,
            Concurrency = 10,
            Quota = new TokenQuota(1_000_000, QuotaPeriod.Day),
        });
        var group = new LimitScope("group:team-a", new CallerLimits { Concurrency = 10, Quota = new TokenQuota(1_000_000, QuotaPeriod.Month) });
        var total = new LimitScope("group:reseller", new CallerLimits { Quota = new TokenQuota(1_000_000, QuotaPeriod.Total) });
        var none = new LimitScope("group:open", CallerLimits.None);
        const string Secret = "ccx-sk-this-must-never-be-stored";

        for (var i = 0; i < 5; i++)
        {
            Assert.That((await store.AcquireAsync([key, group, total, none], $"req-{i}", 100, CancellationToken.None)).Admitted, Is.True);
        }

        for (var i = 0; i < 3; i++)
        {
            await store.RenewAsync([key, group, total, none], $"req-{i}", CancellationToken.None);
            await store.ReleaseAsync([key, group, total, none], $"req-{i}", 100, 80, 200, CancellationToken.None);
        }

        var names = (await _redis.CommandAsync("KEYS", "*")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(names, Is.SupersetOf(new[]
        {
            "ccx:{key:ab12cd34ef56}:rpm",
            "ccx:{key:ab12cd34ef56}:itpm",
            "ccx:{key:ab12cd34ef56}:otpm",
            "ccx:{key:ab12cd34ef56}:conc",
            "ccx:{group:team-a}:conc",
            "ccx:{group:reseller}:quota:total",
        }));
        Assert.That(names, Has.Some.Match(@"^ccx:\{key:ab12cd34ef56\}:quota:\d{4}-\d{2}-\d{2}$"));
        Assert.That(names, Has.Some.Match(@"^ccx:\{group:team-a\}:quota:\d{4}-\d{2}-01$"));
        Assert.That(names, Has.None.Contain("group:open"), "a scope without limits is never written");

        foreach (var name in names)
        {
            Assert.That(name, Does.Match(@"^ccx:\{(key|group):[a-z0-9-]+\}:(rpm|itpm|otpm|conc|quota:(total|\d{4}-\d{2}-\d{2}))$"));
            var ttl = long.Parse(await _redis.CommandAsync("PTTL", name), System.Globalization.CultureInfo.InvariantCulture);
            if (name.EndsWith(":quota:total", StringComparison.Ordinal))
            {
                Assert.That(ttl, Is.EqualTo(-1), name);
            }
            else
            {
                Assert.That(ttl, Is.GreaterThan(0), name);
                Assert.That(ttl, Is.LessThanOrEqualTo(TimeSpan.FromDays(33).TotalMilliseconds), name);
            }

            var type = await _redis.CommandAsync("TYPE", name);
            var value = type == "zset"
                ? await _redis.CommandAsync("ZRANGE", name, "0", "-1", "WITHSCORES")
                : await _redis.CommandAsync("GET", name);
            foreach (var item in value.Split('\n'))
            {
                Assert.That(item, Does.Match(@"^(-?\d+(\.\d+)?|req-\d)$"), $"{name} holds only numbers and lease ids");
                Assert.That(item, Does.Not.Contain(Secret));
            }
        }

        Assert.That(await _redis.CommandAsync("PTTL", "ccx:{key:ab12cd34ef56}:rpm"), Is.Not.EqualTo("-1"));
        Assert.That(await _redis.CommandAsync("ZCARD", "ccx:{key:ab12cd34ef56}:conc"), Is.EqualTo("2"), "3 of 5 released");
        Assert.That(await _redis.CommandAsync("GET", "ccx:{group:reseller}:quota:total"), Is.EqualTo("1040"), "5 × 100 reserved, 3 of them corrected by -20 + 200");
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Scripts_FlushedOrServerRestarted_LoadedAgain()
    {
        using var connection = await ConnectedAsync(_redis.ConnectionString);
        var store = new RedisLimitStore(connection);
        var scope = Scope(new CallerLimits { RequestsPerMinute = 2 });

        Assert.That((await store.AcquireAsync([scope], "a", 0, CancellationToken.None)).Admitted, Is.True);
        Assert.That(await _redis.CommandAsync("SCRIPT", "FLUSH"), Is.EqualTo("OK"));
        Assert.That((await store.AcquireAsync([scope], "b", 0, CancellationToken.None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "c", 0, CancellationToken.None)).Violated, Is.EqualTo(LimitKind.Requests));

        await _redis.RestartAsync();

        // The client notices the restart on its own schedule (IsConnected can still say true on the dead
        // socket for a moment): retry until a call goes through, then check what it decided.
        LimitDecision? decision = null;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (decision is null && DateTime.UtcNow < deadline)
        {
            try
            {
                decision = await store.AcquireAsync([scope], "d", 0, CancellationToken.None);
            }
            catch (Exception ex) when (ex is StackExchange.Redis.RedisException or TimeoutException or RedisUnavailableException)
            {
                await Task.Delay(100);
            }
        }

        Assert.That(decision?.Admitted, Is.True, "an empty server: the script is sent again");
    }

}
