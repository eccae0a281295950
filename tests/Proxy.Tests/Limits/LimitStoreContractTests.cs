using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using static CcxProxy.Tests.Limits.Limits;

namespace CcxProxy.Tests.Limits;

/// <summary>
/// The semantics every <see cref="ILimitStore"/> must have, run against the in-memory store (fake clock) and the
/// Redis store (a real redis-server, real time: windows are kept to about a second).
/// </summary>
public abstract class LimitStoreContractTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    /// <summary>A store with the given lease TTL.</summary>
    private protected abstract Task<ILimitStore> CreateStoreAsync(TimeSpan? leaseTtl = null);

    /// <summary>Lets time pass (the fake clock moves, or the test sleeps).</summary>
    private protected abstract Task AdvanceAsync(TimeSpan by);

    /// <summary>The store's idea of now.</summary>
    private protected abstract DateTimeOffset Now { get; }

    /// <summary>How far real time may drift during a test (0 with a fake clock).</summary>
    private protected abstract TimeSpan Slack { get; }

    [Test]
    [CancelAfter(10_000)]
    public async Task Requests_LimitUsedBackToBack_NextRefusedWithRetryAfter()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { RequestsPerMinute = 5 });

        for (var i = 0; i < 5; i++)
        {
            var admitted = await store.AcquireAsync([scope], $"l{i}", 0, None);
            Assert.That(admitted.Admitted, Is.True, $"request {i + 1}");
            Assert.That(admitted.Limit, Is.EqualTo(5));
            Assert.That(admitted.Remaining, Is.EqualTo(4 - i));
        }

        var refused = await store.AcquireAsync([scope], "l5", 0, None);
        Assert.Multiple(() =>
        {
            Assert.That(refused.Admitted, Is.False);
            Assert.That(refused.Violated, Is.EqualTo(LimitKind.Requests));
            Assert.That(refused.Scope, Is.EqualTo(scope.Scope));
            Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.FromSeconds(11)), "one request every 12 s: the next slot is ~12 s away");
            Assert.That(refused.Limit, Is.EqualTo(5));
            Assert.That(refused.Remaining, Is.Zero);
        });
    }

    // Against Redis these run on Redis's own clock, with sub-second margins; a stall of the shared 2-core
    // machine can eat a margin. A broken limiter fails every try; a stall does not repeat three times.
    [Retry(3)]
    [Test]
    [CancelAfter(10_000)]
    public async Task Requests_AfterTheEmissionInterval_AdmittedAgain()
    {
        var store = await CreateStoreAsync();
        // One every 2 s: against real time the test holds while the loop takes under ~1.8 s (a loaded machine).
        var scope = Scope(new CallerLimits { RequestsPerMinute = 30 });

        for (var i = 0; i < 30; i++)
        {
            Assert.That((await store.AcquireAsync([scope], $"l{i}", 0, None)).Admitted, Is.True, $"request {i + 1}");
        }

        var refused = await store.AcquireAsync([scope], "x", 0, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Requests));
        Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.Zero).And.LessThanOrEqualTo(TimeSpan.FromSeconds(2)));

        await AdvanceAsync(TimeSpan.FromMilliseconds(2100));
        Assert.That((await store.AcquireAsync([scope], "y", 0, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "z", 0, None)).Violated, Is.EqualTo(LimitKind.Requests));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task InputTokens_ReleaseWithSmallerActual_FreesRoom()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { InputTokensPerMinute = 1000 });

        Assert.That((await store.AcquireAsync([scope], "a", 600, None)).Admitted, Is.True);
        var refused = await store.AcquireAsync([scope], "b", 600, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.InputTokens));
        Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.FromSeconds(11)).And.LessThanOrEqualTo(TimeSpan.FromSeconds(12)), "200 tokens over at 60 ms a token");
        Assert.That(refused.Remaining, Is.InRange(400, 401));

        await store.ReleaseAsync([scope], "a", 600, 100, 0, None);
        Assert.That((await store.AcquireAsync([scope], "b", 600, None)).Admitted, Is.True, "100 used + 600 reserved fits in 1000");
        Assert.That((await store.AcquireAsync([scope], "c", 400, None)).Violated, Is.EqualTo(LimitKind.InputTokens));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task InputTokens_EstimateLargerThanTheLimit_RefusedForAMinute()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { InputTokensPerMinute = 1000 });

        var refused = await store.AcquireAsync([scope], "a", 1001, None);

        Assert.That(refused.Violated, Is.EqualTo(LimitKind.InputTokens));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That((await store.AcquireAsync([scope], "b", 1000, None)).Admitted, Is.True, "nothing was recorded by the refusal");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task OutputTokens_RefusedOnlyOnceOver()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { OutputTokensPerMinute = 100 });

        Assert.That((await store.AcquireAsync([scope], "a", 500, None)).Admitted, Is.True);
        await store.ReleaseAsync([scope], "a", 500, 500, 90, None);
        Assert.That((await store.AcquireAsync([scope], "b", 0, None)).Admitted, Is.True, "90 of 100 used: not over yet");
        await store.ReleaseAsync([scope], "b", 0, 0, 60, None);

        var refused = await store.AcquireAsync([scope], "c", 0, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.OutputTokens));
        Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.FromSeconds(29) - Slack).And.LessThanOrEqualTo(TimeSpan.FromSeconds(30)), "150 tokens = 90 s of a 60 s window");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Concurrency_LimitTwo_ThirdRefusedUntilOneIsReleased()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { Concurrency = 2 });

        Assert.That((await store.AcquireAsync([scope], "a", 0, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "b", 0, None)).Admitted, Is.True);
        var refused = await store.AcquireAsync([scope], "c", 0, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Concurrency));
        Assert.That(refused.Limit, Is.EqualTo(2));
        Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.Zero));

        await store.ReleaseAsync([scope], "a", 0, 0, 0, None);
        Assert.That((await store.AcquireAsync([scope], "c", 0, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "d", 0, None)).Violated, Is.EqualTo(LimitKind.Concurrency));
    }

    // Against Redis these run on Redis's own clock, with sub-second margins; a stall of the shared 2-core
    // machine can eat a margin. A broken limiter fails every try; a stall does not repeat three times.
    [Retry(3)]
    [Test]
    [CancelAfter(10_000)]
    public async Task Concurrency_LeaseNotRenewed_ExpiresAndFreesItsSlot()
    {
        // Against real time the renewed lease must outlive the second wait plus any stall: 800 ms of margin.
        var store = await CreateStoreAsync(TimeSpan.FromMilliseconds(2000));
        var scope = Scope(new CallerLimits { Concurrency = 2 });
        Assert.That((await store.AcquireAsync([scope], "a", 0, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "b", 0, None)).Admitted, Is.True);

        await AdvanceAsync(TimeSpan.FromMilliseconds(1200));
        await store.RenewAsync([scope], "a", None);
        await AdvanceAsync(TimeSpan.FromMilliseconds(1200));

        Assert.That((await store.AcquireAsync([scope], "c", 0, None)).Admitted, Is.True, "b expired");
        Assert.That((await store.AcquireAsync([scope], "d", 0, None)).Violated, Is.EqualTo(LimitKind.Concurrency), "a was renewed");

        await store.RenewAsync([scope], "b", None);
        Assert.That((await store.AcquireAsync([scope], "e", 0, None)).Violated, Is.EqualTo(LimitKind.Concurrency), "an expired lease is not revived by a renewal");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Quota_Total_RefusedOnceUsedWithoutRetryAfter()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { Quota = new TokenQuota(1000, QuotaPeriod.Total) });

        Assert.That((await store.AcquireAsync([scope], "a", 600, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "b", 300, None)).Admitted, Is.True, "900 reserved < 1000");
        await store.ReleaseAsync([scope], "b", 300, 0, 0, None); // failed: the reservation is returned
        await store.ReleaseAsync([scope], "a", 600, 600, 300, None); // 900 used

        Assert.That((await store.AcquireAsync([scope], "c", 50, None)).Admitted, Is.True, "a quota refuses only once used up");
        await store.ReleaseAsync([scope], "c", 50, 50, 100, None); // 1050 used
        var refused = await store.AcquireAsync([scope], "d", 0, None);
        Assert.Multiple(() =>
        {
            Assert.That(refused.Violated, Is.EqualTo(LimitKind.Quota));
            Assert.That(refused.RetryAfter, Is.Null);
            Assert.That(refused.Limit, Is.EqualTo(1000));
            Assert.That(refused.Remaining, Is.Zero);
        });
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Quota_Day_RefusedUntilTheNextUtcMidnight()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { Quota = new TokenQuota(100, QuotaPeriod.Day) });

        Assert.That((await store.AcquireAsync([scope], "a", 100, None)).Admitted, Is.True);
        var refused = await store.AcquireAsync([scope], "b", 1, None);
        var now = Now;
        var midnight = new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Quota));
        Assert.That(refused.RetryAfter!.Value, Is.EqualTo(midnight - now).Within(TimeSpan.FromSeconds(1) + Slack));

        await store.ReleaseAsync([scope], "a", 100, 0, 0, None);
        Assert.That((await store.AcquireAsync([scope], "b", 1, None)).Admitted, Is.True, "a failed request gives its reservation back");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Quota_Month_RefusedUntilTheFirstOfNextMonth()
    {
        var store = await CreateStoreAsync();
        var scope = Scope(new CallerLimits { Quota = new TokenQuota(10, QuotaPeriod.Month) });

        Assert.That((await store.AcquireAsync([scope], "a", 10, None)).Admitted, Is.True);
        var refused = await store.AcquireAsync([scope], "b", 0, None);
        var now = Now.ToUniversalTime();
        var next = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Quota));
        Assert.That(refused.RetryAfter!.Value, Is.EqualTo(next - now).Within(TimeSpan.FromSeconds(1) + Slack));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task AllOrNothing_GroupRefuses_KeyCountersUnchanged()
    {
        var store = await CreateStoreAsync();
        var key = Scope(new CallerLimits
        {
            RequestsPerMinute = 3,
            InputTokensPerMinute = 1000,
            Concurrency = 1,
            Quota = new TokenQuota(1000, QuotaPeriod.Total),
        });
        var group = Scope(new CallerLimits { RequestsPerMinute = 1 }, "group");

        Assert.That((await store.AcquireAsync([key, group], "a", 0, None)).Admitted, Is.True);
        await store.ReleaseAsync([key, group], "a", 0, 0, 0, None);

        var refused = await store.AcquireAsync([key, group], "b", 900, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Requests));
        Assert.That(refused.Scope, Is.EqualTo(group.Scope));

        // Nothing of the refused request was recorded on the key: its slot, tokens and quota are all there.
        var again = await store.AcquireAsync([key], "c", 1000, None);
        Assert.That(again.Admitted, Is.True, again.ToString());
        Assert.That(again.Remaining, Is.EqualTo(1), "3 a minute, 2 used (a and c)");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Refusals_QuotaBeforeConcurrencyBeforeRates_AcrossScopes()
    {
        var store = await CreateStoreAsync();
        var key = Scope(new CallerLimits { RequestsPerMinute = 1, Concurrency = 5 });
        var group = Scope(new CallerLimits { Concurrency = 1, Quota = new TokenQuota(10, QuotaPeriod.Total) }, "group");

        Assert.That((await store.AcquireAsync([key, group], "a", 10, None)).Admitted, Is.True);

        var refused = await store.AcquireAsync([key, group], "b", 0, None);
        Assert.That(refused.Violated, Is.EqualTo(LimitKind.Quota), "the key's request limit is also exhausted, but a quota comes first");
        Assert.That(refused.Scope, Is.EqualTo(group.Scope));

        await store.ReleaseAsync([key, group], "a", 10, 0, 0, None);
        var held = await store.AcquireAsync([key, group], "c", 0, None);
        Assert.That(held.Violated, Is.EqualTo(LimitKind.Requests), "quota and slots are free again; the request rate is not");
        Assert.That(held.Scope, Is.EqualTo(key.Scope));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Admitted_ReportsTheTightestRequestLimit()
    {
        var store = await CreateStoreAsync();
        var key = Scope(new CallerLimits { RequestsPerMinute = 10 });
        var group = Scope(new CallerLimits { RequestsPerMinute = 3, Concurrency = 10 }, "group");

        var decision = await store.AcquireAsync([key, group], "a", 0, None);

        Assert.That(decision.Admitted, Is.True);
        Assert.That(decision.Limit, Is.EqualTo(3));
        Assert.That(decision.Remaining, Is.EqualTo(2));
        Assert.That(await store.AcquireAsync([Scope(new CallerLimits { Concurrency = 1 })], "b", 0, None), Is.EqualTo(LimitDecision.Admit), "no request limit: nothing to report");
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task ZeroOrNegativeLimits_RefuseEverything()
    {
        var store = await CreateStoreAsync();

        var requests = await store.AcquireAsync([Scope(new CallerLimits { RequestsPerMinute = 0 })], "a", 0, None);
        var output = await store.AcquireAsync([Scope(new CallerLimits { OutputTokensPerMinute = -3 })], "b", 0, None);
        var concurrency = await store.AcquireAsync([Scope(new CallerLimits { Concurrency = -1 })], "c", 0, None);
        var quota = await store.AcquireAsync([Scope(new CallerLimits { Quota = new TokenQuota(0, QuotaPeriod.Total) })], "d", 0, None);

        Assert.Multiple(() =>
        {
            Assert.That(requests.Violated, Is.EqualTo(LimitKind.Requests));
            Assert.That(requests.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(output.Violated, Is.EqualTo(LimitKind.OutputTokens));
            Assert.That(concurrency.Violated, Is.EqualTo(LimitKind.Concurrency));
            Assert.That(quota.Violated, Is.EqualTo(LimitKind.Quota));
        });
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task ScopeWithoutLimits_NeverRefusesAndLeavesOthersAlone()
    {
        var store = await CreateStoreAsync();
        var open = Scope(CallerLimits.None);
        var limited = Scope(new CallerLimits { RequestsPerMinute = 2 });

        for (var i = 0; i < 50; i++)
        {
            Assert.That((await store.AcquireAsync([open], $"o{i}", 1_000_000, None)).Admitted, Is.True);
        }

        Assert.That((await store.AcquireAsync([open, limited], "a", 10, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([limited, open], "b", 10, None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([open, limited], "c", 10, None)).Scope, Is.EqualTo(limited.Scope));
        Assert.That(await store.AcquireAsync([], "d", 10, None), Is.EqualTo(LimitDecision.Admit));
    }
}

[TestFixture]
public sealed class InMemoryLimitStoreContractTests : LimitStoreContractTests
{
    private ManualTimeProvider _time = null!;

    private protected override DateTimeOffset Now => _time.GetUtcNow();

    private protected override TimeSpan Slack => TimeSpan.Zero;

    [SetUp]
    public void SetUp() => _time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 23, 22, 0, 0, TimeSpan.Zero));

    private protected override Task<ILimitStore> CreateStoreAsync(TimeSpan? leaseTtl = null) =>
        Task.FromResult<ILimitStore>(new InMemoryLimitStore(_time, new LimitStoreOptions { LeaseTtl = leaseTtl ?? TimeSpan.FromSeconds(60) }));

    private protected override Task AdvanceAsync(TimeSpan by)
    {
        _time.Advance(by);
        return Task.CompletedTask;
    }
}

/// <summary>The contract against a real redis-server, in one of the Redis store's two modes.</summary>
public abstract class RedisContractTests : LimitStoreContractTests
{
    private RedisServer _redis = null!;
    private RedisConnection _connection = null!;

    /// <summary>One script call per scope with rollback (the Redis Cluster path), rather than one call for all.</summary>
    private protected abstract bool PerScope { get; }

    private protected override DateTimeOffset Now => DateTimeOffset.UtcNow;

    private protected override TimeSpan Slack => TimeSpan.FromSeconds(1);

    [OneTimeSetUp]
    public async Task StartRedis()
    {
        _redis = await RedisServer.StartAsync();
        _connection = await ConnectedAsync(_redis.ConnectionString);
    }

    [OneTimeTearDown]
    public async Task StopRedis()
    {
        _connection.Dispose();
        await _redis.DisposeAsync();
    }

    private protected override Task<ILimitStore> CreateStoreAsync(TimeSpan? leaseTtl = null) =>
        Task.FromResult<ILimitStore>(new RedisLimitStore(_connection, new LimitStoreOptions { LeaseTtl = leaseTtl ?? TimeSpan.FromSeconds(60), ForcePerScopeScripts = PerScope }));

    private protected override Task AdvanceAsync(TimeSpan by) => Task.Delay(by);
}

/// <summary>A single redis-server: all scopes of a request in one script call.</summary>
[TestFixture]
[Category("Redis")]
public sealed class RedisLimitStoreContractTests : RedisContractTests
{
    private protected override bool PerScope => false;
}

/// <summary>The Redis Cluster path (one call per scope, rollback on a later refusal), forced on a single redis-server.</summary>
[TestFixture]
[Category("Redis")]
public sealed class RedisPerScopeLimitStoreContractTests : RedisContractTests
{
    private protected override bool PerScope => true;
}
