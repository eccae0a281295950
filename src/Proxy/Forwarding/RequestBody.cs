using System.Buffers;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Forwarding;

/// <summary>Reads a request body once, refusing it as soon as it passes the configured limit.</summary>
internal static class RequestBody
{
    private const int ReadSize = 16 * 1024;

    // Spare room beyond this is given back by copying the body into an array of its size.
    private const int TrimAbove = 1024;

    /// <summary>The body; a 413 when it is larger than <paramref name="limit"/>, a 400 when HTTP's framing of it is broken (a bad chunk size, a body cut short).</summary>
    /// <remarks>
    /// The body lives as long as the request (passthrough forwards it, every attempt converts it), which for a
    /// stream is minutes: it is held in an array of its own size, not in a read buffer's spare room.
    /// </remarks>
    public static async Task<GatewayResult<ReadOnlyMemory<byte>>> ReadAsync(HttpRequest request, long limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            return TooLarge(limit);
        }

        // With a Content-Length Kestrel delivers exactly that many bytes (or fails the read); chunked bodies grow
        // in 16 KiB steps and are trimmed at the end.
        var buffer = new ArrayBufferWriter<byte>((int)Math.Clamp(request.ContentLength is { } length ? length + 1 : ReadSize, 1, limit + 1));
        try
        {
            while (true)
            {
                var memory = buffer.GetMemory(request.ContentLength is null ? ReadSize : 1);
                var read = await request.Body.ReadAsync(memory, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return buffer.FreeCapacity > TrimAbove ? buffer.WrittenMemory.ToArray() : buffer.WrittenMemory;
                }

                buffer.Advance(read);
                if (buffer.WrittenCount > limit)
                {
                    return TooLarge(limit);
                }
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            // Kestrel's own limit (set to the same value) caught it first.
            return TooLarge(limit);
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Kestrel's message names the fault ("Bad chunk size data.", "Unexpected end of request content.") and
            // nothing of the caller's. A client that hung up gets this too, and never reads it.
            return new GatewayError(StatusCodes.Status400BadRequest, $"the request body could not be read: {ex.Message}");
        }
    }

    private static GatewayError TooLarge(long limit) =>
        new(StatusCodes.Status413PayloadTooLarge, $"request body is larger than the gateway's limit of {limit} bytes");
}
