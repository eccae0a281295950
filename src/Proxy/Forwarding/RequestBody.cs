using System.Buffers;

namespace CcxProxy.Forwarding;

/// <summary>Reads a request body once, refusing it as soon as it passes the configured limit.</summary>
internal static class RequestBody
{
    /// <summary>The body; null when it is larger than <paramref name="limit"/>.</summary>
    /// <exception cref="MalformedBodyException">The body's framing is broken (a bad chunk size, a body cut short).</exception>
    public static async Task<ReadOnlyMemory<byte>?> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        var buffer = new ArrayBufferWriter<byte>((int)Math.Clamp(request.ContentLength ?? 16 * 1024, 1, limit));
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(16 * 1024);
                var read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return buffer.WrittenMemory;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    return null;
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel's own limit (set to the same value) caught it first.
            return null;
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Kestrel's message names the fault ("Bad chunk size data.", "Unexpected end of request content.") and
            // nothing of the caller's. A client that hung up gets this too, and never reads it.
            throw new MalformedBodyException(ex.Message);
        }
    }
}

/// <summary>The request body could not be read as HTTP framed it: the client's mistake, answered with 400.</summary>
internal sealed class MalformedBodyException(string message) : Exception(message);
