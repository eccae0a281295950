namespace CcxProxy.Transforms.Sse;

/// <summary>Thrown by <see cref="SseReader"/> when an event stream breaks a hard limit, such as the maximum event size.</summary>
public sealed class SseFormatException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public SseFormatException()
        : base("The event stream is malformed.")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    /// <param name="message">What was wrong with the stream.</param>
    public SseFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and the exception that caused it.</summary>
    /// <param name="message">What was wrong with the stream.</param>
    /// <param name="innerException">The cause.</param>
    public SseFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
