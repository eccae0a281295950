using System.Diagnostics;
using System.Diagnostics.Metrics;
using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static CcxProxy.Tests.Limits.Limits;

namespace CcxProxy.Tests.Limits;

/// <summary>Redis killed, restarted, frozen: every call still answers within the timeout, from memory if need be.</summary>
[TestFixture]
[Category("Redis")]
public sealed class FailOpenLimitStoreTests
{
    private static readonly TimeSpan OneSecond = TimeSpan.FromSeconds(1);

    private RedisServer _redis = null!;
    private RedisConnection _connection = null!;
    private ServiceProvider _services = null!;
    private ListLogger<FailOpenLimitStore> _logger = null!;
    private LimitsMetrics _metrics = null!;
    private FailOpenLimitStore _store = null!;

    [SetUp]
    public async Task SetUp()
    {
        _redis = await RedisServer.StartAsync();
        _connection = await ConnectedAsync(_redis.ConnectionString);
        _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        _metrics = new LimitsMetrics(_services.GetRequiredService<IMeterFactory>());
        _logger = new ListLogger<FailOpenLimitStore>();
        var options = new LimitStoreOptions { RedisTimeout = TimeSpan.FromMilliseconds(250), RedisRetryInterval = TimeSpan.FromMilliseconds(200) };
        _store = new FailOpenLimitStore(
            _connection,
            new RedisLimitStore(_connection, options),
            new InMemoryLimitStore(TimeProvider.System, options),
            options,
            TimeProvider.System,
            _metrics,
            _logger);
    }

    [TearDown]
    public async Task TearDown()
    {
        try
        {
            _redis.Thaw();
        }
        catch (InvalidOperationException)
        {
            // Not running: nothing to thaw.
        }

        _connection.Dispose();
        await _services.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private IEnumerable<(LogLevel Level, string Message)> Warnings => _logger.Lines.Where(l => l.Level == LogLevel.Warning);

    [Test]
    [CancelAfter(30_000)]
    public async Task RedisKilled_AnswersFromMemory_ThenBackToRedisAfterRestart()
    {
        var scope = Scope(new CallerLimits { RequestsPerMinute = 1000 });
        Assert.That((await TimedAcquireAsync(scope, "before")).Admitted, Is.True);
        Assert.That(_store.IsDegraded, Is.False);

        await _redis.KillAsync();
        for (var i = 0; i < 20; i++)
        {
            Assert.That((await TimedAcquireAsync(scope, $"down-{i}")).Admitted, Is.True);
        }

        Assert.That(_store.IsDegraded, Is.True);
        Assert.That(Warnings.Count(), Is.EqualTo(1), string.Join('\n', _logger.Lines));

        await _redis.RestartAsync();
        await AcquireUntilRecoveredAsync(scope);
        Assert.That(Warnings.Count(), Is.EqualTo(2), string.Join('\n', _logger.Lines));
        Assert.That(await _redis.CommandAsync("EXISTS", RedisLimitStore.Key(scope.Scope, "rpm")), Is.EqualTo("1"), "shared counters resumed");
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task RedisFrozen_EachCallAnswersWithinTheTimeout_ThenRecoversOnThaw()
    {
        var scope = Scope(new CallerLimits { RequestsPerMinute = 1000, Concurrency = 100 });
        Assert.That((await TimedAcquireAsync(scope, "before")).Admitted, Is.True);

        _redis.Freeze();
        var calls = Enumerable.Range(0, 10).Select(i => TimedAcquireAsync(scope, $"frozen-{i}"));
        Assert.That((await Task.WhenAll(calls)).All(d => d.Admitted), Is.True);
        for (var i = 0; i < 5; i++)
        {
            Assert.That((await TimedAcquireAsync(scope, $"frozen-seq-{i}")).Admitted, Is.True);
            await TimedAsync(() => _store.RenewAsync([scope], $"frozen-seq-{i}", CancellationToken.None));
            await TimedAsync(() => _store.ReleaseAsync([scope], $"frozen-seq-{i}", 0, 0, 0, CancellationToken.None));
        }

        Assert.That(_store.IsDegraded, Is.True);
        Assert.That(Warnings.Count(), Is.EqualTo(1), string.Join('\n', _logger.Lines));

        _redis.Thaw();
        await AcquireUntilRecoveredAsync(scope);
        Assert.That(Warnings.Count(), Is.EqualTo(2), string.Join('\n', _logger.Lines));
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task LeaseTakenInMemory_IsReleasedInMemory()
    {
        var scope = Scope(new CallerLimits { Concurrency = 1 });
        await _redis.KillAsync();

        Assert.That((await TimedAcquireAsync(scope, "a")).Admitted, Is.True);
        Assert.That((await TimedAcquireAsync(scope, "b")).Violated, Is.EqualTo(LimitKind.Concurrency), "the memory limiter holds a's slot");
        await _store.ReleaseAsync([scope], "a", 0, 0, 0, CancellationToken.None);
        Assert.That((await TimedAcquireAsync(scope, "b")).Admitted, Is.True);
    }

    [Test]
    [CancelAfter(30_000)]
    public async Task Metrics_CountFallbacksAndReportAvailability()
    {
        long fallbacks = 0;
        var available = new List<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, _metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
        {
            if (instrument.Name == LimitsMetrics.FallbacksInstrument)
            {
                Interlocked.Add(ref fallbacks, value);
            }
        });
        listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
        {
            if (instrument.Name == LimitsMetrics.AvailableInstrument)
            {
                available.Add(value);
            }
        });
        listener.Start();

        var scope = Scope(new CallerLimits { RequestsPerMinute = 100 });
        await TimedAcquireAsync(scope, "up");
        listener.RecordObservableInstruments();
        await _redis.KillAsync();
        await TimedAcquireAsync(scope, "down-1");
        await TimedAcquireAsync(scope, "down-2");
        listener.RecordObservableInstruments();

        Assert.That(Interlocked.Read(ref fallbacks), Is.EqualTo(2));
        Assert.That(available, Is.EqualTo(new[] { 1, 0 }));
    }

    private async Task<LimitDecision> TimedAcquireAsync(LimitScope scope, string lease)
    {
        LimitDecision? decision = null;
        await TimedAsync(async () => decision = await _store.AcquireAsync([scope], lease, 10, CancellationToken.None));
        return decision!;
    }

    private static async Task TimedAsync(Func<Task> call)
    {
        var watch = Stopwatch.StartNew();
        await call().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(watch.Elapsed, Is.LessThan(OneSecond), "a limit decision must never wait long on Redis");
    }

    private async Task AcquireUntilRecoveredAsync(LimitScope scope)
    {
        var deadline = Stopwatch.StartNew();
        var i = 0;
        while (_store.IsDegraded && deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            Assert.That((await TimedAcquireAsync(scope, $"recovering-{i++}")).Admitted, Is.True);
            await Task.Delay(50);
        }

        Assert.That(_store.IsDegraded, Is.False, "back to Redis once it answers");
    }
}

/// <summary>Which store <see cref="LimitsServiceCollectionExtensions.AddCcxLimits"/> registers.</summary>
[TestFixture]
public sealed class LimitsServiceCollectionExtensionsTests
{
    [Test]
    [CancelAfter(10_000)]
    public void AddCcxLimits_NoRedis_InMemoryStore()
    {
        using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(_ => Connect(""))
            .AddCcxLimits()
            .BuildServiceProvider();

        Assert.That(services.GetRequiredService<ILimitStore>(), Is.InstanceOf<InMemoryLimitStore>());
    }

    [Test]
    [CancelAfter(10_000)]
    public void AddCcxLimits_RedisConfigured_FailOpenStore()
    {
        using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(_ => Connect($"127.0.0.1:{FreePort.Get()},abortConnect=false,connectTimeout=200"))
            .AddCcxLimits()
            .BuildServiceProvider();

        Assert.That(services.GetRequiredService<ILimitStore>(), Is.InstanceOf<FailOpenLimitStore>());
    }

    [Test]
    [CancelAfter(10_000)]
    public void AddCcxLimits_StoreAlreadyRegistered_KeepsIt()
    {
        var mine = new InMemoryLimitStore(TimeProvider.System);
        using var services = new ServiceCollection().AddSingleton<ILimitStore>(mine).AddCcxLimits().BuildServiceProvider();

        Assert.That(services.GetRequiredService<ILimitStore>(), Is.SameAs(mine));
    }

    [Test]
    [CancelAfter(10_000)]
    public async Task FailOpen_RedisNeverReachable_AnswersFromMemoryAtOnce()
    {
        using var connection = Connect($"127.0.0.1:{FreePort.Get()},abortConnect=false,connectTimeout=200");
        using var services = new ServiceCollection().AddSingleton(connection).AddLogging().AddCcxLimits().BuildServiceProvider();
        var store = services.GetRequiredService<ILimitStore>();
        var scope = Scope(new CallerLimits { RequestsPerMinute = 2 });

        var watch = Stopwatch.StartNew();
        Assert.That((await store.AcquireAsync([scope], "a", 0, CancellationToken.None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "b", 0, CancellationToken.None)).Admitted, Is.True);
        Assert.That((await store.AcquireAsync([scope], "c", 0, CancellationToken.None)).Violated, Is.EqualTo(LimitKind.Requests));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1)));
        Assert.That(((FailOpenLimitStore)store).IsDegraded, Is.True);
    }
}
