namespace CcxProxy.Channels;

/// <summary>Where the channel files live and how often they are checked.</summary>
public sealed class ChannelsOptions
{
    /// <summary>Directory of channel files, one channel per <c>*.json</c>; relative paths resolve against the current directory.</summary>
    public string Directory { get; set; } = "channels";

    /// <summary>How often the directory is polled for changes (default 1 s).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}
