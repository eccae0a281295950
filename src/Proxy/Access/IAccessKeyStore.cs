namespace CcxProxy.Access;

/// <summary>Maps a presented key to a caller. Implementations store keys only as SHA-256 hashes.</summary>
public interface IAccessKeyStore
{
    /// <summary>The caller for <paramref name="keyHash"/> (SHA-256 of the presented key), or null when unknown.</summary>
    ValueTask<Caller?> FindAsync(ReadOnlyMemory<byte> keyHash, CancellationToken cancellationToken);
}
