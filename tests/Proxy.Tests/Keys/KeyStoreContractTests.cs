using CcxProxy.Keys;
using CcxProxy.Redis;
using CcxProxy.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Keys;

/// <summary>The behaviour every <see cref="IKeyStore"/> must have; run once per store.</summary>
[CancelAfter(60_000)]
public abstract class KeyStoreContractTests
{
    private protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    private protected IKeyStore Store { get; private set; } = null!;

    private protected abstract Task<IKeyStore> CreateStoreAsync();

    [SetUp]
    public async Task SetUpStoreAsync() => Store = await CreateStoreAsync();

    internal static KeyRecord NewRecord(string key, string group = "team-a", DateTimeOffset? created = null) => new()
    {
        Hash = KeyHashes.Hex(key),
        Prefix = KeyHashes.PrefixOf(key),
        Group = group,
        Label = "ci runner",
        CreatedAt = created ?? Now,
    };

    internal static KeyRecord WithHash(string hash, DateTimeOffset? created = null) => new()
    {
        Hash = hash,
        Prefix = "ccx-test",
        Group = "g",
        CreatedAt = created ?? Now,
    };

    [Test]
    public async Task Create_NewRecord_FoundByHashWithEveryField()
    {
        var record = NewRecord(KeyHashes.NewKey()) with
        {
            ExpiresAt = Now.AddDays(30),
            Limits = new CallerLimits
            {
                RequestsPerMinute = 60,
                InputTokensPerMinute = 100_000,
                OutputTokensPerMinute = 20_000,
                Concurrency = 4,
                Quota = new TokenQuota(5_000_000, QuotaPeriod.Month),
            },
        };

        Assert.That(await Store.CreateAsync(record, default).WaitAsync(Timeout), Is.True);
        var found = await Store.FindByHashAsync(record.Hash, default).WaitAsync(Timeout);

        Assert.That(found, Is.EqualTo(record));
        Assert.That(found!.Limits, Is.EqualTo(record.Limits));
    }

    [Test]
    public async Task Create_NoLimitsNoExpiry_RoundTrips()
    {
        var record = NewRecord(KeyHashes.NewKey()) with { Label = "" };

        await Store.CreateAsync(record, default).WaitAsync(Timeout);
        var found = await Store.FindByHashAsync(record.Hash, default).WaitAsync(Timeout);

        Assert.That(found, Is.EqualTo(record));
        Assert.That(found!.Limits.IsEmpty, Is.True);
        Assert.That(found.ExpiresAt, Is.Null);
        Assert.That(found.Enabled, Is.True);
    }

    [Test]
    public async Task Create_SameHashTwice_SecondRefusedAndFirstKept()
    {
        var key = KeyHashes.NewKey();
        var first = NewRecord(key, "first");

        Assert.That(await Store.CreateAsync(first, default).WaitAsync(Timeout), Is.True);
        Assert.That(await Store.CreateAsync(NewRecord(key, "second"), default).WaitAsync(Timeout), Is.False);

        Assert.That((await Store.FindByHashAsync(first.Hash, default).WaitAsync(Timeout))!.Group, Is.EqualTo("first"));
        Assert.That(await Store.ListAsync(default).WaitAsync(Timeout), Has.Count.EqualTo(1));
    }

    [Test]
    public void Create_HashNotSha256Hex_Throws()
    {
        var record = WithHash("not-a-hash");

        Assert.That(() => Store.CreateAsync(record, default), Throws.ArgumentException);
    }

    [Test]
    public async Task FindByHash_Unknown_ReturnsNull()
    {
        Assert.That(await Store.FindByHashAsync(KeyHashes.Hex("nobody"), default).WaitAsync(Timeout), Is.Null);
        Assert.That(await Store.FindByHashAsync("zz", default).WaitAsync(Timeout), Is.Null);
    }

    [Test]
    public async Task FindById_IdShortPrefixFullHashOrUpperCase_FindsTheRecord()
    {
        var record = NewRecord(KeyHashes.NewKey());
        await Store.CreateAsync(record, default).WaitAsync(Timeout);
        await Store.CreateAsync(NewRecord(KeyHashes.NewKey()), default).WaitAsync(Timeout);

        foreach (var id in new[] { record.Id, record.Hash[..6], record.Hash, record.Id.ToUpperInvariant(), $" {record.Id} " })
        {
            Assert.That((await Store.FindByIdAsync(id, default).WaitAsync(Timeout))?.Hash, Is.EqualTo(record.Hash), id);
        }
    }

    [Test]
    public async Task FindById_TooShortNotHexOrUnknown_ReturnsNull()
    {
        var record = NewRecord(KeyHashes.NewKey());
        await Store.CreateAsync(record, default).WaitAsync(Timeout);

        Assert.That(await Store.FindByIdAsync(record.Hash[..5], default).WaitAsync(Timeout), Is.Null);
        Assert.That(await Store.FindByIdAsync("ccx-xyz123", default).WaitAsync(Timeout), Is.Null);
        Assert.That(await Store.FindByIdAsync("", default).WaitAsync(Timeout), Is.Null);
        var other = record.Hash[0] == '0' ? "1" : "0";
        Assert.That(await Store.FindByIdAsync(other + record.Hash[1..12], default).WaitAsync(Timeout), Is.Null);
    }

    [Test]
    public async Task FindById_PrefixSharedByTwoKeys_ReturnsNullUntilUnique()
    {
        var a = WithHash("abcdef1" + new string('0', 57));
        var b = WithHash("abcdef2" + new string('0', 57));
        await Store.CreateAsync(a, default).WaitAsync(Timeout);
        await Store.CreateAsync(b, default).WaitAsync(Timeout);

        Assert.That(await Store.FindByIdAsync("abcdef", default).WaitAsync(Timeout), Is.Null);
        Assert.That((await Store.FindByIdAsync("abcdef2", default).WaitAsync(Timeout))?.Hash, Is.EqualTo(b.Hash));
    }

    [Test]
    public async Task List_SeveralKeys_OldestFirst()
    {
        var newest = NewRecord(KeyHashes.NewKey(), created: Now.AddMinutes(2));
        var oldest = NewRecord(KeyHashes.NewKey(), created: Now);
        var middle = NewRecord(KeyHashes.NewKey(), created: Now.AddMinutes(1));
        foreach (var record in new[] { newest, oldest, middle })
        {
            await Store.CreateAsync(record, default).WaitAsync(Timeout);
        }

        var list = await Store.ListAsync(default).WaitAsync(Timeout);

        Assert.That(list.Select(r => r.Hash), Is.EqualTo(new[] { oldest.Hash, middle.Hash, newest.Hash }));
    }

    [Test]
    public async Task List_Empty_ReturnsEmpty() =>
        Assert.That(await Store.ListAsync(default).WaitAsync(Timeout), Is.Empty);

    [Test]
    public async Task Update_Revoke_IsStored()
    {
        var record = NewRecord(KeyHashes.NewKey());
        await Store.CreateAsync(record, default).WaitAsync(Timeout);

        Assert.That(await Store.UpdateAsync(record with { Enabled = false }, default).WaitAsync(Timeout), Is.True);

        Assert.That((await Store.FindByHashAsync(record.Hash, default).WaitAsync(Timeout))!.Enabled, Is.False);
        Assert.That((await Store.FindByIdAsync(record.Id, default).WaitAsync(Timeout))!.Enabled, Is.False);
    }

    [Test]
    public async Task Update_NewLimitsThenNoneAndNoExpiry_AreStored()
    {
        var record = NewRecord(KeyHashes.NewKey()) with { ExpiresAt = Now.AddDays(1), Limits = new CallerLimits { Concurrency = 2 } };
        await Store.CreateAsync(record, default).WaitAsync(Timeout);

        var limited = record with { Limits = new CallerLimits { RequestsPerMinute = 5, Quota = new TokenQuota(10, QuotaPeriod.Day) } };
        await Store.UpdateAsync(limited, default).WaitAsync(Timeout);
        Assert.That(await Store.FindByHashAsync(record.Hash, default).WaitAsync(Timeout), Is.EqualTo(limited));

        var cleared = record with { Limits = CallerLimits.None, ExpiresAt = null };
        await Store.UpdateAsync(cleared, default).WaitAsync(Timeout);
        var found = await Store.FindByHashAsync(record.Hash, default).WaitAsync(Timeout);
        Assert.That(found, Is.EqualTo(cleared));
        Assert.That(found!.Limits.IsEmpty, Is.True);
    }

    [Test]
    public async Task Update_UnknownKey_ReturnsFalseAndCreatesNothing()
    {
        Assert.That(await Store.UpdateAsync(NewRecord(KeyHashes.NewKey()), default).WaitAsync(Timeout), Is.False);
        Assert.That(await Store.ListAsync(default).WaitAsync(Timeout), Is.Empty);
    }
}

[TestFixture]
public sealed class InMemoryKeyStoreTests : KeyStoreContractTests
{
    private protected override Task<IKeyStore> CreateStoreAsync() => Task.FromResult<IKeyStore>(new InMemoryKeyStore());
}

[TestFixture]
[Category("Redis")]
public sealed class RedisKeyStoreTests : KeyStoreContractTests
{
    private RedisServer _redis = null!;
    private RedisConnection _connection = null!;

    [OneTimeSetUp]
    public async Task StartRedisAsync()
    {
        _redis = await RedisServer.StartAsync();
        _connection = new RedisConnection(_redis.ConnectionString, NullLogger<RedisConnection>.Instance);
    }

    [OneTimeTearDown]
    public async Task StopRedisAsync()
    {
        _connection.Dispose();
        await _redis.DisposeAsync();
    }

    private protected override async Task<IKeyStore> CreateStoreAsync()
    {
        Assert.That(await _redis.CommandAsync("FLUSHALL"), Is.EqualTo("OK"));
        return new RedisKeyStore(_connection);
    }

    [Test]
    public async Task Stored_KeysAndValues_NeverHoldTheKey()
    {
        var keys = Enumerable.Range(0, 3).Select(_ => KeyHashes.NewKey()).ToList();
        foreach (var key in keys)
        {
            var record = NewRecord(key) with { Limits = new CallerLimits { RequestsPerMinute = 1 } };
            await Store.CreateAsync(record, default);
            await Store.UpdateAsync(record with { Enabled = false }, default);
        }

        var redisKeys = (await _redis.CommandAsync("KEYS", "*")).Split('\n');
        var dump = new List<string>(redisKeys);
        foreach (var redisKey in redisKeys)
        {
            var type = await _redis.CommandAsync("TYPE", redisKey);
            dump.Add(type == "hash" ? await _redis.CommandAsync("HGETALL", redisKey) : await _redis.CommandAsync("SMEMBERS", redisKey));
        }

        var all = string.Join('\n', dump);
        Assert.That(redisKeys, Has.Length.EqualTo(keys.Count + 1));
        Assert.That(redisKeys, Has.All.StartWith("ccx:{keys}:"));
        foreach (var key in keys)
        {
            Assert.That(all, Does.Not.Contain(key));
            Assert.That(all, Does.Not.Contain(key[4..]), "not even the random part");
            Assert.That(all, Does.Contain(RedisKeyStore.RecordKey(KeyHashes.Hex(key))));
        }
    }

    [Test]
    public async Task Stored_Record_HasTheDocumentedFields()
    {
        var record = NewRecord(KeyHashes.NewKey()) with { Limits = new CallerLimits { RequestsPerMinute = 60, Quota = new TokenQuota(1000, QuotaPeriod.Day) } };
        await Store.CreateAsync(record, default);

        var redisKey = RedisKeyStore.RecordKey(record.Hash);
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "group"), Is.EqualTo("team-a"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "prefix"), Is.EqualTo(record.Prefix));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "enabled"), Is.EqualTo("1"));
        Assert.That(await _redis.CommandAsync("HGET", redisKey, "limits"), Is.EqualTo("""{"requestsPerMinute":60,"quota":{"tokens":1000,"period":"day"}}"""));
        Assert.That(await _redis.CommandAsync("SISMEMBER", RedisKeyStore.IndexKey, record.Hash), Is.EqualTo("1"));
    }

    [Test]
    public async Task Redis_Down_ThrowsKeyStoreUnavailable()
    {
        await using var down = await RedisServer.StartAsync();
        using var connection = new RedisConnection(down.ConnectionString, NullLogger<RedisConnection>.Instance);
        var store = new RedisKeyStore(connection);
        await store.ListAsync(default);
        await down.KillAsync();

        Assert.That(async () => await store.FindByHashAsync(KeyHashes.Hex("x"), default).WaitAsync(Timeout), Throws.TypeOf<KeyStoreUnavailableException>());
    }
}
