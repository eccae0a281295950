using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CcxProxy.Channels;

/// <summary>Calls <see cref="ChannelDirectoryWatcher.Poll"/> every PollInterval. Does nothing when the
/// registered <see cref="IChannelStore"/> is not the directory watcher (a test replaced it).</summary>
internal sealed partial class ChannelDirectoryPollingService(IChannelStore store, TimeProvider time, ILogger<ChannelDirectoryPollingService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (store is not ChannelDirectoryWatcher watcher)
        {
            return;
        }

        using var timer = new PeriodicTimer(watcher.PollInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    watcher.Poll();
                }
#pragma warning disable CA1031 // A failed poll must not stop hot reload; the next tick retries.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    Log.PollFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Polling the channel directory failed; retrying at the next tick")]
        public static partial void PollFailed(ILogger logger, Exception exception);
    }
}
