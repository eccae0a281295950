using Microsoft.Extensions.Options;

namespace CcxProxy.Lifecycle;

/// <summary>
/// Orders a graceful stop. <see cref="StoppingAsync"/> runs before any hosted service stops, the web server
/// included: readiness turns false, new requests are still served for <see cref="ShutdownOptions.DelaySeconds"/>,
/// and only then does Kestrel stop accepting and wait for the requests in flight, until the drain deadline
/// ends the streams still running.
/// </summary>
internal sealed partial class GracefulShutdown : IHostedLifecycleService
{
    private readonly DrainState _drain;
    private readonly ShutdownOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<GracefulShutdown> _logger;

    public GracefulShutdown(DrainState drain, IOptions<ShutdownOptions> options, TimeProvider time, ILogger<GracefulShutdown> logger)
    {
        _drain = drain;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var delay = _options.Delay;
        var drain = _options.Drain;
        _drain.Begin(delay + drain);
        Log.Draining(_logger, delay.TotalSeconds, drain.TotalSeconds);
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The host's own shutdown timeout ran out first.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Shutting down: not ready; serving new requests for {DelaySeconds} s, then draining for up to {DrainSeconds} s")]
        public static partial void Draining(ILogger logger, double delaySeconds, double drainSeconds);
    }
}
