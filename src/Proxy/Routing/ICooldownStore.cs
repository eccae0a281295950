using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Routing;

/// <summary>A cooldown as a store holds it: the target, why, and how long it still runs.</summary>
/// <param name="Channel">The channel's name.</param>
/// <param name="KeyFingerprint">The upstream key's fingerprint, or null for the whole channel.</param>
/// <param name="Reason">What the upstream said.</param>
/// <param name="Remaining">Time left, by the store's clock.</param>
public sealed record CooldownEntry(string Channel, string? KeyFingerprint, FailureKind Reason, TimeSpan Remaining);

/// <summary>
/// Where replicas share the cooldowns they learnt from upstreams (a <c>retry-after</c>, a refused key), so
/// one replica's 429 spares the others. Durations, not instants, cross the boundary: replicas' clocks may
/// disagree, the store's own clock decides. Redis when configured; in memory for a single instance.
/// </summary>
public interface ICooldownStore
{
    /// <summary>Records that the target cools for <see cref="CooldownEntry.Remaining"/> from now; a longer cooldown already recorded is kept.</summary>
    Task PublishAsync(CooldownEntry cooldown, CancellationToken cancellationToken);

    /// <summary>The cooldowns still running (at most one per target and reason).</summary>
    Task<IReadOnlyList<CooldownEntry>> ReadAsync(CancellationToken cancellationToken);
}
