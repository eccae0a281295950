namespace CcxProxy.Limits;

/// <summary>Redis cannot be used at all (not configured, or a configuration the client rejected).</summary>
internal sealed class RedisUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RedisUnavailableException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public RedisUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and a cause.</summary>
    public RedisUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
