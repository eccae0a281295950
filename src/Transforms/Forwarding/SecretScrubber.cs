using System.Text;

namespace CcxProxy.Transforms.Forwarding;

/// <summary>
/// Removes the channel's own secrets from an upstream answer before it is relayed: some upstreams echo the
/// request's headers (the channel's key among them) in their error bodies.
/// </summary>
public static class SecretScrubber
{
    /// <summary>What a secret is replaced with.</summary>
    public static ReadOnlySpan<byte> Redacted => "[redacted]"u8;

    // Shorter values are not secrets worth the false positives (a header value such as "b" or "true").
    private const int MinSecretLength = 8;

    /// <summary>The secrets of one attempt worth looking for: its key and the channel's header values.</summary>
    public static IReadOnlyList<byte[]> SecretsOf(UpstreamCall call)
    {
        var secrets = new List<byte[]>(1 + call.Headers.Count);
        Add(secrets, call.UpstreamKey);
        foreach (var value in call.Headers.Values)
        {
            Add(secrets, value);
        }

        return secrets;
    }

    /// <summary><paramref name="body"/> with every occurrence of a secret replaced; the same memory when none occurs.</summary>
    public static ReadOnlyMemory<byte> Scrub(ReadOnlyMemory<byte> body, IReadOnlyList<byte[]> secrets)
    {
        foreach (var secret in secrets)
        {
            if (body.Span.IndexOf(secret) >= 0)
            {
                body = ReplaceAll(body.Span, secret);
            }
        }

        return body;
    }

    private static void Add(List<byte[]> secrets, string value)
    {
        if (value.Length >= MinSecretLength)
        {
            secrets.Add(Encoding.UTF8.GetBytes(value));
        }
    }

    private static byte[] ReplaceAll(ReadOnlySpan<byte> body, byte[] secret)
    {
        using var output = new MemoryStream(body.Length);
        while (body.IndexOf(secret) is var at and >= 0)
        {
            output.Write(body[..at]);
            output.Write(Redacted);
            body = body[(at + secret.Length)..];
        }

        output.Write(body);
        return output.ToArray();
    }
}
