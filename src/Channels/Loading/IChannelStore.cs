using Microsoft.Extensions.Primitives;

namespace CcxProxy.Channels;

/// <summary>Holds the current <see cref="ChannelSnapshot"/> and signals when a new one is published.</summary>
public interface IChannelStore
{
    /// <summary>The current snapshot. Read it once per request and keep it.</summary>
    ChannelSnapshot Current { get; }

    /// <summary>True once the first load of the directory finished (even if it found no files or only bad ones).</summary>
    bool IsLoaded { get; }

    /// <summary>A token that fires when a new snapshot is published after this call.</summary>
    /// <returns>A single-use change token.</returns>
    IChangeToken GetChangeToken();
}
