using System.Globalization;
using CcxProxy.Redis;
using StackExchange.Redis;

namespace CcxProxy.Keys;

/// <summary>
/// Keys in Redis, shared by every replica. One hash per key at <c>ccx:{keys}:k:&lt;sha256 hex&gt;</c>
/// (fields <c>prefix group label created expires enabled limits</c>) and a set <c>ccx:{keys}:index</c> of
/// the hashes. Every key name carries the <c>{keys}</c> hash tag so the multi-key scripts below run on
/// Redis Cluster too. The key itself is never sent to Redis: only its SHA-256.
/// </summary>
internal sealed class RedisKeyStore : IKeyStore
{
    /// <summary>The set of every stored hash.</summary>
    public const string IndexKey = "ccx:{keys}:index";

    /// <summary>Prefix of the per-key hashes.</summary>
    public const string RecordKeyPrefix = "ccx:{keys}:k:";

    private const string PrefixField = "prefix";
    private const string GroupField = "group";
    private const string LabelField = "label";
    private const string CreatedField = "created";
    private const string ExpiresField = "expires";
    private const string EnabledField = "enabled";
    private const string LimitsField = "limits";

    // KEYS[1] record, KEYS[2] index; ARGV[1] hash, ARGV[2..] field/value pairs.
    // Create writes only when the record is absent; update only when it is present. One script each,
    // so a concurrent create/revoke on another replica can never interleave half a record.
    private const string CreateScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('HSET', KEYS[1], unpack(ARGV, 2))
        redis.call('SADD', KEYS[2], ARGV[1])
        return 1
        """;

    private const string UpdateScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], unpack(ARGV, 2))
        redis.call('SADD', KEYS[2], ARGV[1])
        return 1
        """;

    private readonly RedisConnection _connection;

    public RedisKeyStore(RedisConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
    }

    /// <summary>The Redis key of one record.</summary>
    public static string RecordKey(string hash) => RecordKeyPrefix + hash;

    public async Task<bool> CreateAsync(KeyRecord record, CancellationToken cancellationToken)
    {
        KeyHashes.Validate(record);
        var result = await RunAsync(db => db.ScriptEvaluateAsync(CreateScript, [RecordKey(record.Hash), IndexKey], Arguments(record)), cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<bool> UpdateAsync(KeyRecord record, CancellationToken cancellationToken)
    {
        KeyHashes.Validate(record);
        var result = await RunAsync(db => db.ScriptEvaluateAsync(UpdateScript, [RecordKey(record.Hash), IndexKey], Arguments(record)), cancellationToken).ConfigureAwait(false);
        return (long)result == 1;
    }

    public async Task<KeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken)
    {
        if (!KeyHashes.IsHash(hash))
        {
            return null;
        }

        var entries = await RunAsync(db => db.HashGetAllAsync(RecordKey(hash)), cancellationToken).ConfigureAwait(false);
        return Read(hash, entries);
    }

    public async Task<KeyRecord?> FindByIdAsync(string id, CancellationToken cancellationToken)
    {
        if (!KeyHashes.TryNormalizeId(id, out var normalized))
        {
            return null;
        }

        if (normalized.Length == 64)
        {
            return await FindByHashAsync(normalized, cancellationToken).ConfigureAwait(false);
        }

        // Operators name keys by id; the index holds one short string per key, so reading it whole is fine
        // for the thousands of keys a gateway has. This is the CLI's path, never the per-request one.
        var members = await RunAsync(db => db.SetMembersAsync(IndexKey), cancellationToken).ConfigureAwait(false);
        var hash = KeyHashes.FindUnique(members.Select(m => (string)m!), normalized);
        return hash is null ? null : await FindByHashAsync(hash, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var members = await RunAsync(db => db.SetMembersAsync(IndexKey), cancellationToken).ConfigureAwait(false);
        var hashes = members.Select(m => (string)m!).Where(KeyHashes.IsHash).ToArray();
        var database = await DatabaseAsync().ConfigureAwait(false);

        // The multiplexer pipelines these: one round trip's worth of latency, not one per key.
        var reads = hashes.Select(hash => database.HashGetAllAsync(RecordKey(hash))).ToArray();
        HashEntry[][] entries;
        try
        {
            entries = await Task.WhenAll(reads).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            throw Unavailable(ex);
        }

        var records = new List<KeyRecord>(hashes.Length);
        for (var i = 0; i < hashes.Length; i++)
        {
            if (Read(hashes[i], entries[i]) is { } record)
            {
                records.Add(record);
            }
        }

        records.Sort((a, b) => a.CreatedAt != b.CreatedAt ? a.CreatedAt.CompareTo(b.CreatedAt) : string.CompareOrdinal(a.Hash, b.Hash));
        return records;
    }

    private static RedisValue[] Arguments(KeyRecord record) =>
    [
        record.Hash,
        PrefixField, record.Prefix,
        GroupField, record.Group,
        LabelField, record.Label,
        CreatedField, FormatTime(record.CreatedAt),
        ExpiresField, record.ExpiresAt is { } expires ? FormatTime(expires) : "",
        EnabledField, record.Enabled ? "1" : "0",
        LimitsField, CallerLimitsJson.Serialize(record.Limits),
    ];

    private static KeyRecord? Read(string hash, HashEntry[] entries)
    {
        if (entries.Length == 0)
        {
            return null;
        }

        var fields = entries.ToDictionary(e => (string)e.Name!, e => (string?)e.Value, StringComparer.Ordinal);
        string Field(string name) => fields.TryGetValue(name, out var value) && value is not null
            ? value
            : throw new InvalidDataException($"key record {hash[..12]} in Redis has no '{name}' field");

        try
        {
            var expires = fields.GetValueOrDefault(ExpiresField);
            return new KeyRecord
            {
                Hash = hash,
                Prefix = fields.GetValueOrDefault(PrefixField) ?? "",
                Group = Field(GroupField),
                Label = fields.GetValueOrDefault(LabelField) ?? "",
                CreatedAt = ParseTime(Field(CreatedField)),
                ExpiresAt = string.IsNullOrEmpty(expires) ? null : ParseTime(expires),
                Enabled = Field(EnabledField) == "1",
                Limits = CallerLimitsJson.Deserialize(fields.GetValueOrDefault(LimitsField)),
            };
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException($"key record {hash[..12]} in Redis is not valid", ex);
        }
    }

    private static string FormatTime(DateTimeOffset time) => time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private async Task<IDatabase> DatabaseAsync()
    {
        var multiplexer = await _connection.MultiplexerAsync.ConfigureAwait(false)
            ?? throw new KeyStoreUnavailableException("Redis is not configured or Redis:Configuration is not usable");
        return multiplexer.GetDatabase();
    }

    private async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> operation, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync().ConfigureAwait(false);
        try
        {
            // StackExchange.Redis commands take no CancellationToken; WaitAsync at least frees the caller.
            return await operation(database).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex))
        {
            throw Unavailable(ex);
        }
    }

    private static bool IsRedisFailure(Exception ex) => ex is RedisException or TimeoutException;

    // The client's message can name the endpoint but never a key or the password.
    private static KeyStoreUnavailableException Unavailable(Exception ex) => new($"Redis did not answer ({ex.GetType().Name})", ex);
}
