using System.Collections.Concurrent;

namespace CcxProxy.Usage;

/// <summary>Usage kept in this process (the embedded default for one instance).</summary>
internal sealed class InMemoryUsageStore : IUsageStore
{
    private readonly ConcurrentDictionary<(string Dimension, string Name, string Bucket), UsageTotals> _totals = new();

    public Task RecordAsync(UsageEntry entry, DateTimeOffset at, CancellationToken cancellationToken)
    {
        var bucket = UsageDimensions.Bucket(at);
        foreach (var (dimension, name) in UsageDimensions.Of(entry))
        {
            _totals.AddOrUpdate((dimension, name, bucket), entry.Totals, (_, existing) => existing.Add(entry.Totals));
        }

        return Task.CompletedTask;
    }

    public Task<UsageTotals> ReadAsync(string dimension, string name, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        var sum = new UsageTotals();
        foreach (var bucket in UsageDimensions.Buckets(from, to))
        {
            if (_totals.TryGetValue((dimension, name, bucket), out var totals))
            {
                sum = sum.Add(totals);
            }
        }

        return Task.FromResult(sum);
    }
}
