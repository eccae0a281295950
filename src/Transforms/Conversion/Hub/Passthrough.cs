using CcxProxy.Transforms.Json;

namespace CcxProxy.Transforms.Conversion.Hub;

/// <summary>What every same-protocol route shares.</summary>
public static class Passthrough
{
    /// <summary>The max_tokens to write over the client's, when it asked for more than the channel allows; null to leave it.</summary>
    /// <param name="scan">The scan of the client's body.</param>
    /// <param name="options">The channel's choices.</param>
    public static int? Clamp(in RequestScan scan, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return scan.MaxTokens > options.MaxTokensLimit ? options.MaxTokensLimit : null;
    }
}
