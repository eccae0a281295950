using CcxProxy.Redis;
using StackExchange.Redis;

namespace CcxProxy.Usage;

/// <summary>
/// Usage in Redis: one hash per dimension, name and hour, <c>ccx:{usage:DIM:NAME}:HOUR</c>, with the fields
/// <c>requests</c>, <c>cached_requests</c>, <c>input</c>, <c>output</c>, <c>cache_read</c>, <c>cache_write</c> incremented atomically
/// (HINCRBY in one transaction per request). Buckets expire after 40 days.
/// </summary>
internal sealed class RedisUsageStore : IUsageStore
{
    private static readonly TimeSpan s_keep = UsageDimensions.Retention;
    private readonly RedisConnection _connection;

    public RedisUsageStore(RedisConnection connection) => _connection = connection;

    private static string Key(string dimension, string name, string bucket) => $"ccx:{{usage:{dimension}:{name}}}:{bucket}";

    public async Task RecordAsync(UsageEntry entry, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync().ConfigureAwait(false);
        var bucket = UsageDimensions.Bucket(at);
        var batch = database.CreateBatch();
        var writes = new List<Task>();
        foreach (var (dimension, name) in UsageDimensions.Of(entry))
        {
            var key = Key(dimension, name, bucket);
            var totals = entry.Totals;
            writes.Add(batch.HashIncrementAsync(key, "requests", totals.Requests));
            if (totals.CachedRequests != 0)
            {
                writes.Add(batch.HashIncrementAsync(key, "cached_requests", totals.CachedRequests));
            }

            writes.Add(batch.HashIncrementAsync(key, "input", totals.InputTokens));
            writes.Add(batch.HashIncrementAsync(key, "output", totals.OutputTokens));
            writes.Add(batch.HashIncrementAsync(key, "cache_read", totals.CacheReadTokens));
            writes.Add(batch.HashIncrementAsync(key, "cache_write", totals.CacheWriteTokens));
            writes.Add(batch.KeyExpireAsync(key, s_keep));
        }

        batch.Execute();
        await Task.WhenAll(writes).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<UsageTotals> ReadAsync(string dimension, string name, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync().ConfigureAwait(false);
        var sum = new UsageTotals();
        foreach (var bucket in UsageDimensions.Buckets(from, to))
        {
            var fields = await database.HashGetAllAsync(Key(dimension, name, bucket)).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (fields.Length == 0)
            {
                continue;
            }

            var values = fields.ToDictionary(f => (string)f.Name!, f => (long)f.Value, StringComparer.Ordinal);
            sum = sum.Add(new UsageTotals
            {
                Requests = values.GetValueOrDefault("requests"),
                CachedRequests = values.GetValueOrDefault("cached_requests"),
                InputTokens = values.GetValueOrDefault("input"),
                OutputTokens = values.GetValueOrDefault("output"),
                CacheReadTokens = values.GetValueOrDefault("cache_read"),
                CacheWriteTokens = values.GetValueOrDefault("cache_write"),
            });
        }

        return sum;
    }

    private async Task<IDatabase> DatabaseAsync() =>
        (await _connection.MultiplexerAsync.ConfigureAwait(false))?.GetDatabase()
        ?? throw new InvalidOperationException("Redis is not available for usage accounting");
}
