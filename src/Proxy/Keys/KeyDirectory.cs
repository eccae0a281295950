using System.Collections.Concurrent;
using CcxProxy.Access;

namespace CcxProxy.Keys;

/// <summary>
/// The per-request key lookup: <c>PROXY_ACCESS_KEY</c> keys first (group <c>default</c>, no limits,
/// compared in constant time), then the <see cref="IKeyStore"/> through a short in-process cache.
/// </summary>
/// <remarks>
/// Answers from the store, "unknown" included, are reused for <see cref="KeyDirectoryOptions.CacheTtl"/>
/// (at most 3 s): a key revoked on one replica is refused by every replica within that time plus one
/// store read, well inside the 5 s the gateway promises, and a flood of bad keys costs Redis one read per
/// key per TTL. Expiry is checked against <see cref="TimeProvider"/> on every lookup, cached or not.
/// When the store cannot answer, a key seen recently keeps its last answer
/// (<see cref="KeyDirectoryOptions.StaleWhenUnavailable"/>); otherwise <see cref="KeyStoreUnavailableException"/>
/// is thrown and the caller decides (never a hang: reads time out after <see cref="KeyDirectoryOptions.StoreTimeout"/>).
/// </remarks>
internal sealed partial class KeyDirectory
{
    private readonly IKeyStore _store;
    private readonly EnvironmentAccessKeyStore _environmentKeys;
    private readonly TimeProvider _time;
    private readonly ILogger<KeyDirectory> _logger;
    private readonly KeyDirectoryOptions _options;
    private readonly ConcurrentDictionary<string, Entry> _cache = new(StringComparer.Ordinal);
    private int _count;
    private long _nextSweepTicks;
    private int _storeFailing;

    public KeyDirectory(IKeyStore store, IConfiguration configuration, TimeProvider timeProvider, ILogger<KeyDirectory> logger, KeyDirectoryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _options = options ?? new KeyDirectoryOptions();
        _options.Validate();
        _store = store;
        _environmentKeys = new EnvironmentAccessKeyStore(configuration);
        _time = timeProvider;
        _logger = logger;
    }

    /// <summary>How many answers are cached now (for tests and metrics).</summary>
    public int CachedCount => Volatile.Read(ref _count);

    /// <summary>Finds what <paramref name="presentedKey"/> is. The key is hashed at once and never kept.</summary>
    /// <exception cref="KeyStoreUnavailableException">The store failed and the key has no recent answer to fall back on.</exception>
    public async Task<KeyLookup> LookupAsync(string presentedKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(presentedKey);
        var hashBytes = AccessKeyHash.Compute(presentedKey);
        var hash = Convert.ToHexStringLower(hashBytes);

        // EnvironmentAccessKeyStore answers synchronously and compares against every key in constant time.
        if (await _environmentKeys.FindAsync(hashBytes, cancellationToken).ConfigureAwait(false) is not null)
        {
            return KeyLookup.Found(EnvironmentRecord(hash));
        }

        var now = _time.GetUtcNow();
        _cache.TryGetValue(hash, out var entry);
        var record = entry is not null && now - entry.StoredAt < _options.CacheTtl
            ? entry.Record
            : await FetchAsync(hash, entry, now, cancellationToken).ConfigureAwait(false);
        return Classify(record, _time.GetUtcNow());
    }

    /// <summary>Forgets the cached answer for one key hash (after a change made through this process).</summary>
    public void Invalidate(string hash)
    {
        if (hash is not null && _cache.TryRemove(hash, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>Found, revoked or expired for a record, unknown for none. Expired means <c>ExpiresAt ≤ now</c>.</summary>
    public static KeyLookup Classify(KeyRecord? record, DateTimeOffset now) => record switch
    {
        null => KeyLookup.Unknown,
        { Enabled: false } => KeyLookup.Revoked(record),
        { ExpiresAt: { } expires } when expires <= now => KeyLookup.Expired(record),
        _ => KeyLookup.Found(record),
    };

    private static KeyRecord EnvironmentRecord(string hash) => new()
    {
        Hash = hash,
        Prefix = "",
        Group = EnvironmentAccessKeyStore.DefaultGroup,
        Label = EnvironmentAccessKeyStore.ConfigurationKey,
        CreatedAt = DateTimeOffset.UnixEpoch,
    };

    private async Task<KeyRecord?> FetchAsync(string hash, Entry? previous, DateTimeOffset now, CancellationToken cancellationToken)
    {
        KeyRecord? record;
        try
        {
            record = await _store.FindByHashAsync(hash, cancellationToken)
                .WaitAsync(_options.StoreTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KeyStoreUnavailableException or TimeoutException)
        {
            if (Interlocked.Exchange(ref _storeFailing, 1) == 0)
            {
                Log.StoreUnavailable(_logger, ex.GetType().Name);
            }

            if (previous is not null && now - previous.StoredAt <= _options.StaleWhenUnavailable)
            {
                return previous.Record;
            }

            throw ex as KeyStoreUnavailableException ?? new KeyStoreUnavailableException("the key store did not answer in time", ex);
        }
        catch (InvalidDataException)
        {
            // A record nobody can read is a key nobody can use; say which (by id), once per TTL.
            Log.CorruptRecord(_logger, hash[..12]);
            record = null;
        }

        if (Interlocked.Exchange(ref _storeFailing, 0) == 1)
        {
            Log.StoreRecovered(_logger);
        }

        Remember(hash, record, now);
        return record;
    }

    private void Remember(string hash, KeyRecord? record, DateTimeOffset now)
    {
        Sweep(now);
        var entry = new Entry(record, now);
        if (_cache.TryGetValue(hash, out var existing))
        {
            _cache.TryUpdate(hash, entry, existing);
        }
        else if (Volatile.Read(ref _count) < _options.MaxEntries && _cache.TryAdd(hash, entry))
        {
            Interlocked.Increment(ref _count);
        }
    }

    // Drops answers nobody may use any more: unknown ones after the TTL, records after the stale window.
    private void Sweep(DateTimeOffset now)
    {
        var next = Volatile.Read(ref _nextSweepTicks);
        if (now.UtcTicks < next || Interlocked.CompareExchange(ref _nextSweepTicks, (now + _options.CacheTtl).UtcTicks, next) != next)
        {
            return;
        }

        var keepRecords = _options.StaleWhenUnavailable > _options.CacheTtl ? _options.StaleWhenUnavailable : _options.CacheTtl;
        foreach (var (hash, entry) in _cache)
        {
            var age = now - entry.StoredAt;
            if ((entry.Record is null ? age >= _options.CacheTtl : age > keepRecords)
                && _cache.TryRemove(new KeyValuePair<string, Entry>(hash, entry)))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private sealed record Entry(KeyRecord? Record, DateTimeOffset StoredAt);

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "The key store is unavailable ({ExceptionType}); recently seen keys keep their last answer, others are refused until it answers")]
        public static partial void StoreUnavailable(ILogger logger, string exceptionType);

        [LoggerMessage(2, LogLevel.Information, "The key store answers again")]
        public static partial void StoreRecovered(ILogger logger);

        [LoggerMessage(3, LogLevel.Error, "The stored record of key {KeyId} cannot be read; the key is refused until it is fixed or re-created")]
        public static partial void CorruptRecord(ILogger logger, string keyId);
    }
}
