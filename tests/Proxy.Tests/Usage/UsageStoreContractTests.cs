using CcxProxy.Redis;
using CcxProxy.TestSupport;
using CcxProxy.Usage;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Usage;

/// <summary>The same behaviour from the in-memory and the Redis usage store.</summary>
[TestFixture(false)]
[TestFixture(true, Category = "Redis")]
[CancelAfter(30_000)]
public sealed class UsageStoreContractTests(bool redis)
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 30, 0, TimeSpan.Zero);

    private RedisServer? _server;
    private RedisConnection? _connection;
    private IUsageStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        if (redis)
        {
            _server = await RedisServer.StartAsync();
            _connection = new RedisConnection(_server.ConnectionString, NullLogger<RedisConnection>.Instance);
            await _connection.MultiplexerAsync;
            _store = new RedisUsageStore(_connection);
        }
        else
        {
            _store = new InMemoryUsageStore();
        }
    }

    [TearDown]
    public async Task TearDown()
    {
        _connection?.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    private static UsageEntry Entry(string key, string channel, long input, long output) =>
        new(key, "team", channel, "claude-sonnet-4-6", new UsageTotals { Requests = 1, InputTokens = input, OutputTokens = output, CacheReadTokens = 3, CacheWriteTokens = 2 });

    [Test]
    public async Task Record_SummedPerDimension()
    {
        await _store.RecordAsync(Entry("k1", "a", 10, 5), Noon, default);
        await _store.RecordAsync(Entry("k1", "b", 20, 7), Noon, default);
        await _store.RecordAsync(Entry("k2", "a", 1, 1), Noon, default);

        var key = await _store.ReadAsync(UsageDimensions.Key, "k1", Noon.AddHours(-1), Noon, default);
        var group = await _store.ReadAsync(UsageDimensions.Group, "team", Noon, Noon, default);
        var channel = await _store.ReadAsync(UsageDimensions.Channel, "a", Noon, Noon, default);

        Assert.That(key, Is.EqualTo(new UsageTotals { Requests = 2, InputTokens = 30, OutputTokens = 12, CacheReadTokens = 6, CacheWriteTokens = 4 }));
        Assert.That(group.Requests, Is.EqualTo(3));
        Assert.That(channel.InputTokens, Is.EqualTo(11));
    }

    [Test]
    public async Task Read_OnlyTheHoursAsked()
    {
        await _store.RecordAsync(Entry("k1", "a", 10, 5), Noon, default);
        await _store.RecordAsync(Entry("k1", "a", 100, 50), Noon.AddHours(-3), default);

        var lastHour = await _store.ReadAsync(UsageDimensions.Key, "k1", Noon.AddMinutes(-20), Noon, default);
        var lastDay = await _store.ReadAsync(UsageDimensions.Key, "k1", Noon.AddDays(-1), Noon, default);
        var none = await _store.ReadAsync(UsageDimensions.Key, "nobody", Noon.AddDays(-1), Noon, default);

        Assert.That(lastHour.InputTokens, Is.EqualTo(10));
        Assert.That(lastDay.InputTokens, Is.EqualTo(110));
        Assert.That(none, Is.EqualTo(new UsageTotals()));
    }

    [Test]
    public async Task Redis_BucketsExpire()
    {
        if (_server is null)
        {
            Assert.Pass("in-memory buckets are not persisted");
        }

        await _store.RecordAsync(Entry("k1", "a", 10, 5), Noon, default);

        var ttl = await _server.CommandAsync("TTL", "ccx:{usage:key:k1}:2026112312");
        Assert.That(long.Parse(ttl, System.Globalization.CultureInfo.InvariantCulture), Is.GreaterThan(30L * 24 * 3600));
    }
}
