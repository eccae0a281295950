using System.Globalization;
using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.TestSupport;
using static CcxProxy.Tests.Limits.Limits;

namespace CcxProxy.Tests.Limits;

/// <summary>The Lua helpers agree with <see cref="LimitMath"/> (the in-memory store's arithmetic).</summary>
[TestFixture]
[Category("Redis")]
public sealed class LimitScriptsTests
{
    [Test]
    [CancelAfter(30_000)]
    public async Task QuotaPeriods_LuaCalendar_MatchesDotNetAcrossCenturies()
    {
        await using var redis = await RedisServer.StartAsync();
        var instants = new List<DateTimeOffset>
        {
            new(1970, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new(2000, 2, 29, 23, 59, 59, 999, TimeSpan.Zero),
            new(2000, 3, 1, 0, 0, 0, TimeSpan.Zero),
            new(2024, 12, 31, 23, 59, 59, 999, TimeSpan.Zero),
            new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero),
            new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero),
            new(2100, 2, 28, 23, 0, 0, TimeSpan.Zero),
            new(2100, 3, 1, 0, 0, 0, 1, TimeSpan.Zero),
        };
        for (var at = new DateTimeOffset(1970, 1, 1, 0, 0, 0, TimeSpan.Zero); at.Year < 2101; at = at.AddHours((13 * 24) + 7))
        {
            instants.Add(at);
        }

        const string Script = """
            local out = {}
            for i = 1, #ARGV do
              local now = tonumber(ARGV[i])
            """ + LimitScripts.Helpers + """
              local day, day_end = period(2)
              local month, month_end = period(3)
              out[#out + 1] = day .. ' ' .. string.format('%d', day_end) .. ' ' .. month .. ' ' .. string.format('%d', month_end)
            end
            return out
            """;
        string[] args = ["EVAL", Script, "0", .. instants.Select(i => i.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture))];

        var lines = (await redis.CommandAsync(args)).Split('\n');

        Assert.That(lines, Has.Length.EqualTo(instants.Count), lines[0]);
        for (var i = 0; i < instants.Count; i++)
        {
            var (day, dayEnd) = LimitMath.QuotaPeriodOf(QuotaPeriod.Day, instants[i]);
            var (month, monthEnd) = LimitMath.QuotaPeriodOf(QuotaPeriod.Month, instants[i]);
            var expected = string.Create(CultureInfo.InvariantCulture, $"{day} {dayEnd!.Value.ToUnixTimeMilliseconds()} {month} {monthEnd!.Value.ToUnixTimeMilliseconds()}");
            Assert.That(lines[i], Is.EqualTo(expected), instants[i].ToString("O", CultureInfo.InvariantCulture));
        }
    }
}

/// <summary>The in-memory store under concurrent callers.</summary>
[TestFixture]
public sealed class InMemoryLimitStoreTests
{
    [Test]
    [CancelAfter(10_000)]
    public async Task ConcurrentAcquires_200AgainstALimitOf50_Exactly50Admitted()
    {
        var store = new InMemoryLimitStore(TimeProvider.System);
        var scope = Scope(new CallerLimits { RequestsPerMinute = 50 });
        var group = Scope(new CallerLimits { Concurrency = 1000, Quota = new TokenQuota(1_000_000, QuotaPeriod.Day) }, "group");

        var decisions = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            Task.Run(() => store.AcquireAsync([scope, group], $"lease-{i}", 10, CancellationToken.None))));

        Assert.That(decisions.Count(d => d.Admitted), Is.EqualTo(50));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task Quota_PeriodRollsOver_NewAllowance()
    {
        var time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 30, 23, 59, 0, TimeSpan.Zero));
        var store = new InMemoryLimitStore(time);
        var daily = Scope(new CallerLimits { Quota = new TokenQuota(10, QuotaPeriod.Day) });
        var monthly = Scope(new CallerLimits { Quota = new TokenQuota(10, QuotaPeriod.Month) });

        Assert.That((await store.AcquireAsync([daily, monthly], "a", 10, CancellationToken.None)).Admitted, Is.True);
        var refused = await store.AcquireAsync([daily, monthly], "b", 10, CancellationToken.None);
        Assert.That(refused.Scope, Is.EqualTo(daily.Scope));
        Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromMinutes(1)));

        time.Advance(TimeSpan.FromMinutes(2)); // 2026-12-01T00:01Z: a new day and a new month
        Assert.That((await store.AcquireAsync([daily, monthly], "b", 10, CancellationToken.None)).Admitted, Is.True);
    }
}
