using System.Collections.Concurrent;

namespace CcxProxy.Keys;

/// <summary>
/// Keys held in this process only: the embedded default when Redis is not configured (one instance,
/// <c>dotnet run</c>, tests). Records are immutable, so a dictionary of them is thread-safe as is.
/// </summary>
internal sealed class InMemoryKeyStore : IKeyStore
{
    private readonly ConcurrentDictionary<string, KeyRecord> _records = new(StringComparer.Ordinal);

    public Task<bool> CreateAsync(KeyRecord record, CancellationToken cancellationToken)
    {
        KeyHashes.Validate(record);
        return Task.FromResult(_records.TryAdd(record.Hash, record));
    }

    public Task<KeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken) =>
        Task.FromResult(hash is not null && _records.TryGetValue(hash, out var record) ? record : null);

    public Task<KeyRecord?> FindByIdAsync(string id, CancellationToken cancellationToken)
    {
        if (!KeyHashes.TryNormalizeId(id, out var normalized))
        {
            return Task.FromResult<KeyRecord?>(null);
        }

        var hash = KeyHashes.FindUnique(_records.Keys, normalized);
        return Task.FromResult(hash is not null && _records.TryGetValue(hash, out var record) ? record : null);
    }

    public Task<IReadOnlyList<KeyRecord>> ListAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<KeyRecord>>(
            [.. _records.Values.OrderBy(r => r.CreatedAt).ThenBy(r => r.Hash, StringComparer.Ordinal)]);

    public Task<bool> UpdateAsync(KeyRecord record, CancellationToken cancellationToken)
    {
        KeyHashes.Validate(record);
        while (_records.TryGetValue(record.Hash, out var current))
        {
            if (_records.TryUpdate(record.Hash, record, current))
            {
                return Task.FromResult(true);
            }
        }

        return Task.FromResult(false);
    }
}
