using System.Globalization;
using CcxProxy.Redis;
using CcxProxy.Routing;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Keys;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// The behaviour every <see cref="ICooldownStore"/> must have; run once per store. The in-memory store runs
/// on a manual clock; Redis keeps its own (real) time, so durations are a few seconds and remaining times
/// are checked as ranges.
/// </summary>
[CancelAfter(30_000)]
public abstract class CooldownStoreContractTests
{
    private protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private protected ICooldownStore Store { get; private set; } = null!;

    /// <summary>How much less than the published duration a read may report (the store's clock moved on meanwhile).</summary>
    private protected abstract TimeSpan Tolerance { get; }

    private protected abstract Task<ICooldownStore> CreateStoreAsync();

    /// <summary>Lets <paramref name="time"/> pass by the store's clock.</summary>
    private protected abstract Task ElapseAsync(TimeSpan time);

    [SetUp]
    public async Task SetUpStoreAsync() => Store = await CreateStoreAsync();

    private protected Task PublishAsync(string channel, string? key, FailureKind reason, TimeSpan duration) =>
        Store.PublishAsync(new CooldownEntry(channel, key, reason, duration), default).WaitAsync(Timeout);

    private protected async Task<IReadOnlyList<CooldownEntry>> ReadAsync() => await Store.ReadAsync(default).WaitAsync(Timeout);

    [Test]
    public async Task Publish_ThenRead_EntryWithRemainingAboutTheDuration()
    {
        var duration = TimeSpan.FromSeconds(5);
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, duration);

        var entry = (await ReadAsync()).Single();

        Assert.That(entry.Channel, Is.EqualTo("a"));
        Assert.That(entry.KeyFingerprint, Is.EqualTo("0a1b2c3d"));
        Assert.That(entry.Reason, Is.EqualTo(FailureKind.RateLimited));
        Assert.That(entry.Remaining, Is.InRange(duration - Tolerance, duration));
    }

    [Test]
    public async Task Read_Empty_NoEntries()
    {
        Assert.That(await ReadAsync(), Is.Empty);
    }

    [Test]
    public async Task Publish_ShorterAfterLonger_LongerKept()
    {
        var longer = TimeSpan.FromSeconds(20);
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, longer);
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, TimeSpan.FromSeconds(5));

        var entry = (await ReadAsync()).Single();

        Assert.That(entry.Remaining, Is.InRange(longer - Tolerance, longer));
    }

    [Test]
    public async Task Publish_LongerAfterShorter_Extended()
    {
        var longer = TimeSpan.FromSeconds(20);
        await PublishAsync("a", null, FailureKind.Overloaded, TimeSpan.FromSeconds(5));
        await PublishAsync("a", null, FailureKind.Overloaded, longer);

        var entry = (await ReadAsync()).Single();

        Assert.That(entry.Remaining, Is.InRange(longer - Tolerance, longer));
    }

    [Test]
    public async Task Publish_KeyAndWholeChannelAndOtherReason_Distinct()
    {
        var duration = TimeSpan.FromSeconds(5);
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, duration);
        await PublishAsync("a", null, FailureKind.RateLimited, duration * 2);
        await PublishAsync("a", "0a1b2c3d", FailureKind.KeyRejected, duration * 3);
        await PublishAsync("b", "0a1b2c3d", FailureKind.RateLimited, duration * 4);

        var entries = await ReadAsync();

        Assert.That(entries.Select(e => (e.Channel, e.KeyFingerprint, e.Reason)), Is.EquivalentTo(new (string, string?, FailureKind)[]
        {
            ("a", "0a1b2c3d", FailureKind.RateLimited),
            ("a", null, FailureKind.RateLimited),
            ("a", "0a1b2c3d", FailureKind.KeyRejected),
            ("b", "0a1b2c3d", FailureKind.RateLimited),
        }));
        Assert.That(entries.Single(e => e.KeyFingerprint is null).Remaining, Is.InRange(duration * 2 - Tolerance, duration * 2),
            "the whole channel's entry is its own, not the key's");
    }

    [Test]
    public async Task Read_EndedCooldown_NotReturned()
    {
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, TimeSpan.FromMilliseconds(300));
        await PublishAsync("b", null, FailureKind.Overloaded, TimeSpan.FromSeconds(30));

        await ElapseAsync(TimeSpan.FromMilliseconds(700));
        var entries = await ReadAsync();

        Assert.That(entries.Select(e => e.Channel), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public async Task Publish_ManyTargets_EachReadBackOnce()
    {
        var targets = Enumerable.Range(0, 40)
            .SelectMany(c => new[] { ($"channel-{c}", (string?)$"{c:x8}"), ($"channel-{c}", (string?)null) })
            .ToList();
        await Task.WhenAll(targets.Select((t, i) => PublishAsync(t.Item1, t.Item2, FailureKind.RateLimited, TimeSpan.FromSeconds(10 + i % 5))));

        var entries = await ReadAsync();

        Assert.That(entries.Select(e => (e.Channel, e.KeyFingerprint)), Is.EquivalentTo(targets));
        Assert.That(entries.Select(e => e.Remaining), Has.All.InRange(TimeSpan.FromSeconds(10) - Tolerance, TimeSpan.FromSeconds(14)));
    }
}

[TestFixture]
public sealed class InMemoryCooldownStoreTests : CooldownStoreContractTests
{
    private ManualTimeProvider _time = null!;

    private protected override TimeSpan Tolerance => TimeSpan.Zero;

    private protected override Task<ICooldownStore> CreateStoreAsync()
    {
        _time = new ManualTimeProvider(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
        return Task.FromResult<ICooldownStore>(new InMemoryCooldownStore(_time));
    }

    private protected override Task ElapseAsync(TimeSpan time)
    {
        _time.Advance(time);
        return Task.CompletedTask;
    }

    [Test]
    public async Task Read_ClockMoved_RemainingCountsDown_EndsExactlyAtItsEnd()
    {
        await PublishAsync("a", null, FailureKind.Overloaded, TimeSpan.FromSeconds(5));

        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.That((await ReadAsync()).Single().Remaining, Is.EqualTo(TimeSpan.FromSeconds(3)));

        _time.Advance(TimeSpan.FromSeconds(3));
        Assert.That(await ReadAsync(), Is.Empty, "a cooldown is over at its end, not one tick later");
    }
}

[TestFixture]
[Category("Redis")]
public sealed class RedisCooldownStoreTests : CooldownStoreContractTests
{
    private RedisServer _redis = null!;
    private RedisConnection _connection = null!;

    // Redis time is real: what passes between a publish and a read on a loaded, shared machine.
    private protected override TimeSpan Tolerance => TimeSpan.FromSeconds(2);

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        _redis = await RedisServer.StartAsync();
        _connection = new RedisConnection(_redis.ConnectionString, NullLogger<RedisConnection>.Instance);
        await _connection.MultiplexerAsync.WaitAsync(Timeout);
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        _connection.Dispose();
        await _redis.DisposeAsync();
    }

    private protected override async Task<ICooldownStore> CreateStoreAsync()
    {
        Assert.That(await _redis.CommandAsync("FLUSHALL"), Is.EqualTo("OK"));
        return new RedisCooldownStore(_connection);
    }

    private protected override Task ElapseAsync(TimeSpan time) => Task.Delay(time);

    [Test]
    public async Task Publish_SetExpiresByItself_WithItsLongestEntry()
    {
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, TimeSpan.FromSeconds(4));
        await PublishAsync("a", null, FailureKind.Overloaded, TimeSpan.FromSeconds(8));
        await PublishAsync("b", null, FailureKind.Overloaded, TimeSpan.FromSeconds(2));

        var ttl = long.Parse(await _redis.CommandAsync("PTTL", RedisCooldownStore.Key), CultureInfo.InvariantCulture);

        Assert.That(ttl, Is.GreaterThan(0), "the set must expire by itself");
        Assert.That(ttl, Is.LessThanOrEqualTo(8_000), "and no later than its longest entry");
        Assert.That(ttl, Is.GreaterThan(4_000), "but not before its longest entry");
    }

    [Test]
    public async Task Read_MembersItCannotParse_SkippedOthersRead()
    {
        var time = (await _redis.CommandAsync("TIME")).Split('\n');
        var nowMs = long.Parse(time[0], CultureInfo.InvariantCulture) * 1000;
        string Score(int seconds) => (nowMs + seconds * 1000L).ToString(CultureInfo.InvariantCulture);

        // Written by hand: garbage, an unknown reason (a newer version), too many parts, an empty channel.
        Assert.That(await _redis.CommandAsync("ZADD", RedisCooldownStore.Key,
            Score(30), "garbage",
            Score(31), "a\n0a1b2c3d\nSomeNewReason",
            Score(32), "a\nb\nc\nRateLimited",
            Score(33), "\n0a1b2c3d\nRateLimited"), Is.EqualTo("4"));
        await PublishAsync("a", "0a1b2c3d", FailureKind.RateLimited, TimeSpan.FromSeconds(5));
        await PublishAsync("z", null, FailureKind.Overloaded, TimeSpan.FromSeconds(60));

        var entries = await ReadAsync();

        Assert.That(entries.Select(e => (e.Channel, e.KeyFingerprint, e.Reason)), Is.EquivalentTo(new (string, string?, FailureKind)[]
        {
            ("a", "0a1b2c3d", FailureKind.RateLimited),
            ("z", null, FailureKind.Overloaded),
        }));
    }
}
