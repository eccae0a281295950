using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Routing;

/// <summary>
/// Weighted rendezvous (highest-random-weight) hashing: every item gets a score from the affinity key and
/// its own id, and items are tried lowest score first. One conversation therefore always prefers the same
/// channel, key and destination; different conversations spread in proportion to the weights; and when an
/// item leaves or is unhealthy only the conversations that preferred it move. The hash is stable across
/// processes and machines, so every replica makes the same choice.
/// </summary>
internal static class Rendezvous
{
    /// <summary>Orders <paramref name="items"/> in place, preferred first.</summary>
    public static void Order<T>(Span<T> items, ulong affinity, Func<T, string> id, Func<T, int> weight)
    {
        if (items.Length < 2)
        {
            return;
        }

        var scores = new double[items.Length];
        for (var i = 0; i < items.Length; i++)
        {
            scores[i] = Score(affinity, StableHash.Of(id(items[i])), weight(items[i]));
        }

        scores.AsSpan().Sort(items);
    }

    /// <summary>The item's score: -ln(u)/weight, with u uniform in (0, 1] drawn from the two hashes. Lower wins.</summary>
    public static double Score(ulong affinity, ulong item, int weight)
    {
        var h = StableHash.Mix(affinity ^ StableHash.Mix(item));
        var u = ((h >> 11) + 1) * (1.0 / (1UL << 53));
        return -Math.Log(u) / Math.Max(1, weight);
    }
}
