using System.Diagnostics;
using CcxProxy.Keys;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Keys;

[TestFixture]
[CancelAfter(60_000)]
public sealed class KeyDirectoryTests
{
    private const string EnvironmentKey = "env-key-for-directory-tests";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset Start = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    private ManualTimeProvider _time = null!;
    private CountingStore _store = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new ManualTimeProvider(Start);
        _store = new CountingStore(new InMemoryKeyStore());
    }

    private KeyDirectory Directory(IKeyStore? store = null, TimeProvider? time = null, KeyDirectoryOptions? options = null) => new(
        store ?? _store,
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["PROXY_ACCESS_KEY"] = $"other, {EnvironmentKey}" }).Build(),
        time ?? _time,
        NullLogger<KeyDirectory>.Instance,
        options);

    private async Task<string> CreateAsync(Func<KeyRecord, KeyRecord>? change = null, IKeyStore? store = null)
    {
        var key = KeyHashes.NewKey();
        var record = KeyStoreContractTests.NewRecord(key, created: Start);
        await (store ?? _store).CreateAsync(change?.Invoke(record) ?? record, default);
        return key;
    }

    [Test]
    public async Task Lookup_EnvironmentKey_FoundInDefaultGroupWithoutLimitsOrStoreRead()
    {
        var lookup = await Directory().LookupAsync(EnvironmentKey, default).WaitAsync(Timeout);

        Assert.That(lookup.Status, Is.EqualTo(KeyLookupStatus.Found));
        Assert.That(lookup.Record!.Group, Is.EqualTo("default"));
        Assert.That(lookup.Record.Hash, Is.EqualTo(KeyHashes.Hex(EnvironmentKey)));
        Assert.That(lookup.Record.Limits.IsEmpty, Is.True);
        Assert.That(lookup.Record.Prefix, Is.Empty, "nothing of an environment key is shown");
        Assert.That(_store.Reads, Is.Zero);
    }

    [Test]
    public async Task Lookup_StoredKey_Found()
    {
        var key = await CreateAsync();

        var lookup = await Directory().LookupAsync(key, default).WaitAsync(Timeout);

        Assert.That(lookup.Status, Is.EqualTo(KeyLookupStatus.Found));
        Assert.That(lookup.Record!.Group, Is.EqualTo("team-a"));
    }

    [Test]
    public async Task Lookup_UnknownKey_UnknownAndCachedForTheTtl()
    {
        var directory = Directory();

        Assert.That((await directory.LookupAsync("ccx-nobody", default)).Status, Is.EqualTo(KeyLookupStatus.Unknown));
        Assert.That((await directory.LookupAsync("ccx-nobody", default)).Status, Is.EqualTo(KeyLookupStatus.Unknown));
        Assert.That(_store.Reads, Is.EqualTo(1), "the second bad attempt is answered from the cache");

        _time.Advance(TimeSpan.FromSeconds(2));
        await directory.LookupAsync("ccx-nobody", default);
        Assert.That(_store.Reads, Is.EqualTo(2));
    }

    [Test]
    public async Task Lookup_RevokedKey_Revoked()
    {
        var key = await CreateAsync(r => r with { Enabled = false });

        var lookup = await Directory().LookupAsync(key, default);

        Assert.That(lookup.Status, Is.EqualTo(KeyLookupStatus.Revoked));
        Assert.That(lookup.Record!.Id, Is.EqualTo(KeyHashes.Hex(key)[..12]));
    }

    [Test]
    public async Task Lookup_KeyReachesExpiry_ExpiredFromThatInstantEvenWhileCached()
    {
        var key = await CreateAsync(r => r with { ExpiresAt = Start.AddHours(1) });
        var directory = Directory(options: new KeyDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(3) });

        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Found));
        _time.Advance(TimeSpan.FromHours(1) - TimeSpan.FromTicks(1));
        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Found));
        var readsBefore = _store.Reads;
        _time.Advance(TimeSpan.FromTicks(1));

        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Expired));
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Expired));
        Assert.That(_store.Reads - readsBefore, Is.LessThanOrEqualTo(1));
    }

    [Test]
    public async Task Lookup_RevokedInStore_CachedAnswerUntilTtlThenRevoked()
    {
        var key = await CreateAsync();
        var directory = Directory(options: new KeyDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(2) });
        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Found));

        var record = (await _store.FindByHashAsync(KeyHashes.Hex(key), default))!;
        await _store.UpdateAsync(record with { Enabled = false }, default);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Found), "within the TTL the cached answer stands");
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Revoked));
    }

    [Test]
    public async Task Invalidate_AfterLocalRevoke_NextLookupReadsTheStore()
    {
        var key = await CreateAsync();
        var directory = Directory();
        await directory.LookupAsync(key, default);
        var record = (await _store.FindByHashAsync(KeyHashes.Hex(key), default))!;
        await _store.UpdateAsync(record with { Enabled = false }, default);

        directory.Invalidate(record.Hash);

        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Revoked));
    }

    [Test]
    public async Task Lookup_StoreFailsWithRecentAnswer_KeepsTheLastAnswer()
    {
        var key = await CreateAsync();
        var directory = Directory();
        await directory.LookupAsync(key, default);

        _store.Failing = true;
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.That((await directory.LookupAsync(key, default)).Status, Is.EqualTo(KeyLookupStatus.Found));
        Assert.That(async () => await directory.LookupAsync("ccx-never-seen", default), Throws.TypeOf<KeyStoreUnavailableException>());
    }

    [Test]
    public async Task Lookup_StoreNeverAnswers_ThrowsAfterTheStoreTimeout()
    {
        var directory = Directory(new HangingStore(), TimeProvider.System, new KeyDirectoryOptions { StoreTimeout = TimeSpan.FromMilliseconds(200) });
        var watch = Stopwatch.StartNew();

        Assert.That(async () => await directory.LookupAsync("ccx-anything", default).WaitAsync(Timeout), Throws.TypeOf<KeyStoreUnavailableException>());
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task Lookup_FloodOfBadKeys_CacheStaysBounded()
    {
        var directory = Directory(options: new KeyDirectoryOptions { MaxEntries = 50 });

        for (var i = 0; i < 200; i++)
        {
            await directory.LookupAsync($"ccx-bad-{i}", default);
        }

        Assert.That(directory.CachedCount, Is.LessThanOrEqualTo(50));
        _time.Advance(TimeSpan.FromSeconds(5));
        await directory.LookupAsync("ccx-bad-after", default);
        Assert.That(directory.CachedCount, Is.LessThanOrEqualTo(1), "expired unknown answers are swept");
    }

    [Test]
    public void Options_TtlOverThreeSeconds_Refused() =>
        Assert.That(() => Directory(options: new KeyDirectoryOptions { CacheTtl = TimeSpan.FromSeconds(4) }), Throws.InstanceOf<ArgumentOutOfRangeException>());

    [Test]
    [Category("Redis")]
    public async Task Lookup_RevokedOnAnotherReplica_RefusedHereWithinFiveSeconds()
    {
        await using var redis = await RedisServer.StartAsync();
        using var connectionA = new RedisConnection(redis.ConnectionString, NullLogger<RedisConnection>.Instance);
        using var connectionB = new RedisConnection(redis.ConnectionString, NullLogger<RedisConnection>.Instance);
        var replicaA = Directory(new RedisKeyStore(connectionA), TimeProvider.System);
        var storeB = new RedisKeyStore(connectionB);
        var replicaB = Directory(storeB, TimeProvider.System);
        var key = await CreateAsync(store: storeB);
        Assert.That((await replicaA.LookupAsync(key, default).WaitAsync(Timeout)).Status, Is.EqualTo(KeyLookupStatus.Found));
        Assert.That((await replicaB.LookupAsync(key, default).WaitAsync(Timeout)).Status, Is.EqualTo(KeyLookupStatus.Found));

        var record = (await storeB.FindByIdAsync(KeyHashes.Hex(key)[..12], default))!;
        Assert.That(await storeB.UpdateAsync(record with { Enabled = false }, default), Is.True);
        replicaB.Invalidate(record.Hash);
        var watch = Stopwatch.StartNew();

        while ((await replicaA.LookupAsync(key, default).WaitAsync(Timeout)).Status != KeyLookupStatus.Revoked)
        {
            Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "replica A still accepts the revoked key");
            await Task.Delay(50);
        }

        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That((await replicaB.LookupAsync(key, default).WaitAsync(Timeout)).Status, Is.EqualTo(KeyLookupStatus.Revoked));
    }

    /// <summary>Counts reads and can fail like an unreachable Redis.</summary>
    private sealed class CountingStore(IKeyStore inner) : IKeyStore
    {
        private int _reads;

        public int Reads => _reads;

        public bool Failing { get; set; }

        public Task<bool> CreateAsync(KeyRecord record, CancellationToken cancellationToken) => inner.CreateAsync(record, cancellationToken);

        public Task<KeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            return Failing ? Task.FromException<KeyRecord?>(new KeyStoreUnavailableException("down")) : inner.FindByHashAsync(hash, cancellationToken);
        }

        public Task<KeyRecord?> FindByIdAsync(string id, CancellationToken cancellationToken) => inner.FindByIdAsync(id, cancellationToken);

        public Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public Task<bool> UpdateAsync(KeyRecord record, CancellationToken cancellationToken) => inner.UpdateAsync(record, cancellationToken);
    }

    private sealed class HangingStore : IKeyStore
    {
        public Task<bool> CreateAsync(KeyRecord record, CancellationToken cancellationToken) => Task.FromResult(false);

        public Task<KeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken) => new TaskCompletionSource<KeyRecord?>().Task;

        public Task<KeyRecord?> FindByIdAsync(string id, CancellationToken cancellationToken) => Task.FromResult<KeyRecord?>(null);

        public Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<KeyRecord>>([]);

        public Task<bool> UpdateAsync(KeyRecord record, CancellationToken cancellationToken) => Task.FromResult(false);
    }
}
