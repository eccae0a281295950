namespace CcxProxy.Keys;

/// <summary>
/// The key store could not answer (Redis down, frozen, unreachable or not usable). Stores translate their
/// client's exceptions into this one so callers need not know which client sits behind <see cref="IKeyStore"/>.
/// Its message never holds a key or a connection string.
/// </summary>
internal sealed class KeyStoreUnavailableException : Exception
{
    public KeyStoreUnavailableException()
    {
    }

    public KeyStoreUnavailableException(string message)
        : base(message)
    {
    }

    public KeyStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
