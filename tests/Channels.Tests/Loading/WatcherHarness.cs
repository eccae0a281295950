using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

/// <summary>A watcher over a directory plus (optionally) the hosted service polling it every 50 ms.</summary>
internal sealed class WatcherHarness : IAsyncDisposable, IDisposable
{
    public static readonly TimeSpan ObserveTimeout = TimeSpan.FromSeconds(2);

    private readonly ChannelDirectoryPollingService? _service;

    private WatcherHarness(string directory, Func<string, string?>? environment, bool poll)
    {
        Logger = new ListLogger<ChannelDirectoryWatcher>();
        Watcher = new ChannelDirectoryWatcher(
            new ChannelsOptions { Directory = directory, PollInterval = TimeSpan.FromMilliseconds(50) },
            environment ?? (_ => null),
            TimeProvider.System,
            Logger);
        if (poll)
        {
            _service = new ChannelDirectoryPollingService(Watcher, TimeProvider.System, new ListLogger<ChannelDirectoryPollingService>());
        }
    }

    public ChannelDirectoryWatcher Watcher { get; }

    public ListLogger<ChannelDirectoryWatcher> Logger { get; }

    /// <summary>Creates the watcher (first load happens here) without background polling.</summary>
    public static WatcherHarness Manual(string directory, Func<string, string?>? environment = null) => new(directory, environment, poll: false);

    /// <summary>Creates the watcher and starts the polling service.</summary>
    public static async Task<WatcherHarness> StartAsync(string directory, Func<string, string?>? environment = null)
    {
        var harness = new WatcherHarness(directory, environment, poll: true);
        await harness._service!.StartAsync(CancellationToken.None).WaitAsync(ObserveTimeout);
        return harness;
    }

    /// <summary>Waits until <paramref name="condition"/> holds for the current snapshot, or fails after 2 s.</summary>
    public async Task<ChannelSnapshot> WaitForAsync(Func<ChannelSnapshot, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + ObserveTimeout;
        while (true)
        {
            var snapshot = Watcher.Current;
            if (condition(snapshot))
            {
                return snapshot;
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Not observed within {ObserveTimeout}: {what}. Current snapshot v{snapshot.Version}: channels [{string.Join(", ", snapshot.Channels.Select(c => c.Name))}], rejected [{string.Join("; ", snapshot.Rejected.SelectMany(r => r.Errors))}]");
            }

            await Task.Delay(20);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.StopAsync(CancellationToken.None).WaitAsync(ObserveTimeout);
            _service.Dispose();
        }

        Watcher.Dispose();
    }
}
