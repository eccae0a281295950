using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace CcxProxy.Transforms.Vocabulary;

/// <summary>
/// A stable 64-bit hash: FNV-1a 64 over bytes, then splitmix64's finaliser (Steele, Lea, Flood 2014), which spreads
/// FNV's weak low bits so that every output bit depends on every input bit. Identical on every process and
/// machine, unlike <see cref="string.GetHashCode()"/>: replicas agree on affinity keys and rendezvous orders.
/// </summary>
/// <remarks>
/// Incremental use: start from <see cref="Start"/>, <see cref="Add(ulong, ReadOnlySpan{byte})"/> each piece, then
/// <see cref="Finish"/>. <see cref="Of(ReadOnlySpan{byte})"/> does all three.
/// </remarks>
public static class StableHash
{
    /// <summary>The state to start from: FNV-1a 64's offset basis.</summary>
    public const ulong Start = 14695981039346656037;

    private const ulong Prime = 1099511628211;

    // Strings up to this many UTF-8 bytes are encoded on the stack; longer ones in a rented array.
    private const int StackBytes = 256;

    /// <summary>The hash of <paramref name="data"/>.</summary>
    /// <param name="data">The bytes.</param>
    /// <returns>The hash.</returns>
    public static ulong Of(ReadOnlySpan<byte> data) => Finish(Add(Start, data));

    /// <summary>The hash of <paramref name="text"/>'s UTF-8 bytes.</summary>
    /// <param name="text">The text.</param>
    /// <returns>The hash.</returns>
    public static ulong Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var length = Encoding.UTF8.GetMaxByteCount(text.Length);
        byte[]? rented = null;
        var buffer = length <= StackBytes ? stackalloc byte[StackBytes] : (rented = ArrayPool<byte>.Shared.Rent(length));
        try
        {
            return Of(buffer[..Encoding.UTF8.GetBytes(text, buffer)]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Adds <paramref name="data"/> to a running hash.</summary>
    /// <param name="state">The state so far (<see cref="Start"/> at first).</param>
    /// <param name="data">The next bytes.</param>
    /// <returns>The new state.</returns>
    public static ulong Add(ulong state, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            state = (state ^ b) * Prime;
        }

        return state;
    }

    /// <summary>Adds a 64-bit value (its little-endian bytes) to a running hash.</summary>
    /// <param name="state">The state so far.</param>
    /// <param name="value">The value.</param>
    /// <returns>The new state.</returns>
    public static ulong Add(ulong state, ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return Add(state, bytes);
    }

    /// <summary>The hash of a running state.</summary>
    /// <param name="state">The state after the last <see cref="Add(ulong, ReadOnlySpan{byte})"/>.</param>
    /// <returns>The hash.</returns>
    public static ulong Finish(ulong state) => Mix(state);

    /// <summary>splitmix64's finaliser: spreads every input bit over the whole output.</summary>
    /// <param name="z">The value.</param>
    /// <returns>The mixed value.</returns>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
