namespace CcxProxy.Transforms.Conversion;

/// <summary>A request converted for the upstream's protocol, or the reason it cannot be.</summary>
public sealed class ConvertedRequest
{
    private ConvertedRequest(byte[]? body, bool stream, ToolNameMap toolNames, string? error)
    {
        Body = body;
        Stream = stream;
        ToolNames = toolNames;
        Error = error;
    }

    /// <summary>The upstream request body (UTF-8 JSON); null when <see cref="Error"/> is set.</summary>
    public byte[]? Body { get; }

    /// <summary>True when the client asked for a stream.</summary>
    public bool Stream { get; }

    /// <summary>How tool names were changed for the upstream, to change them back in the answer.</summary>
    public ToolNameMap ToolNames { get; }

    /// <summary>Why the request cannot be converted, phrased for the caller (answered with 400); null on success.</summary>
    public string? Error { get; }

    /// <summary>A successful conversion.</summary>
    public static ConvertedRequest Success(byte[] body, bool stream, ToolNameMap toolNames) => new(body, stream, toolNames, null);

    /// <summary>A request the gateway refuses (400 to the caller), with the reason.</summary>
    public static ConvertedRequest Failure(string error) => new(null, false, ToolNameMap.Identity, error);
}
