using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Routing;

/// <summary>The in-memory <see cref="ICooldownStore"/>: for one instance (nothing to share) and for tests.</summary>
public sealed class InMemoryCooldownStore(TimeProvider time) : ICooldownStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Channel, string? Key, FailureKind Reason), DateTimeOffset> _until = [];

    /// <inheritdoc />
    public Task PublishAsync(CooldownEntry cooldown, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cooldown);
        var until = time.GetUtcNow() + cooldown.Remaining;
        lock (_lock)
        {
            var target = (cooldown.Channel, cooldown.KeyFingerprint, cooldown.Reason);
            if (!_until.TryGetValue(target, out var current) || current < until)
            {
                _until[target] = until;
            }
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<CooldownEntry>> ReadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var running = new List<CooldownEntry>();
        lock (_lock)
        {
            foreach (var (target, until) in _until.ToList())
            {
                if (until <= now)
                {
                    _until.Remove(target);
                    continue;
                }

                running.Add(new CooldownEntry(target.Channel, target.Key, target.Reason, until - now));
            }
        }

        return Task.FromResult<IReadOnlyList<CooldownEntry>>(running);
    }
}
