namespace CcxProxy.Channels;

/// <summary>One validation error in a channel file.</summary>
/// <param name="File">The file name (not the full path).</param>
/// <param name="Field">The field path, e.g. <c>baseUrl</c>, <c>apiKeys[1]</c>, <c>timeouts.idle</c>, or <c>(json)</c>.</param>
/// <param name="Message">What is wrong. Never contains a secret value.</param>
public sealed record ChannelConfigError(string File, string Field, string Message)
{
    /// <summary>Returns <c>file: field: message</c>.</summary>
    public override string ToString() => $"{File}: {Field}: {Message}";
}

/// <summary>A channel file whose current content was rejected.</summary>
/// <param name="File">The file name.</param>
/// <param name="Errors">Every error found in it.</param>
/// <param name="RejectedAt">When this content was first rejected.</param>
/// <param name="LastGoodStillLive">True when an earlier valid version of the file is still serving.</param>
public sealed record RejectedChannelFile(string File, IReadOnlyList<ChannelConfigError> Errors, DateTimeOffset RejectedAt, bool LastGoodStillLive);

/// <summary>The result of parsing one channel file.</summary>
/// <param name="Channel">The channel, or null when the file is invalid.</param>
/// <param name="Errors">Every error found; empty when valid.</param>
public sealed record ChannelParseResult(ChannelConfig? Channel, IReadOnlyList<ChannelConfigError> Errors)
{
    /// <summary>True when a channel was produced and no error was found.</summary>
    public bool IsValid => Channel is not null && Errors.Count == 0;

    /// <summary>Other files the channel file names (its <c>caCertificates</c>), full paths, whether or not they could be read.</summary>
    public IReadOnlyList<string> ReferencedFiles { get; init; } = [];

    /// <summary>A digest of <see cref="ReferencedFiles"/> as they were read for this result (see <see cref="ChannelFileParser.DigestReferencedFiles"/>).</summary>
    public string ReferencedDigest { get; init; } = "";
}
