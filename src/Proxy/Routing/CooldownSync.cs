using System.Threading.Channels;
using CcxProxy.Channels.Health;
using CcxProxy.Limits;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace CcxProxy.Routing;

/// <summary>
/// Shares cooldowns between replicas: publishes the ones this replica learns from upstreams (a
/// <c>retry-after</c>, a refused key) to the <see cref="ICooldownStore"/>, and every
/// <see cref="RoutingOptions.CooldownSyncSeconds"/> takes in the ones the others published. A store outage
/// never touches a request: each replica then keeps its own cooldowns, and says so once in the log.
/// </summary>
internal sealed partial class CooldownSync : BackgroundService
{
    private readonly UpstreamHealth _health;
    private readonly ICooldownStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly ILogger<CooldownSync> _logger;
    private readonly Channel<SharedCooldown> _outbox = Channel.CreateBounded<SharedCooldown>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private int _failing;

    public CooldownSync(UpstreamHealth health, ICooldownStore store, IOptions<RoutingOptions> options, TimeProvider time, ILogger<CooldownSync> logger)
    {
        _health = health;
        _store = store;
        _time = time;
        _logger = logger;
        _interval = options.Value.CooldownSync;
        _health.CooldownStarted += Enqueue;
    }

    public override void Dispose()
    {
        _health.CooldownStarted -= Enqueue;
        base.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(PublishAsync(stoppingToken), PollAsync(stoppingToken));

    private void Enqueue(SharedCooldown cooldown) => _outbox.Writer.TryWrite(cooldown);

    private async Task PublishAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var cooldown in _outbox.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
            {
                var remaining = cooldown.Until - _time.GetUtcNow();
                if (remaining > TimeSpan.Zero)
                {
                    await GuardAsync(() => _store.PublishAsync(
                        new CooldownEntry(cooldown.Channel, cooldown.KeyFingerprint, cooldown.Reason, remaining), stoppingToken)).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task PollAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_interval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await GuardAsync(async () =>
                {
                    var now = _time.GetUtcNow();
                    foreach (var entry in await _store.ReadAsync(stoppingToken).ConfigureAwait(false))
                    {
                        _health.Apply(new SharedCooldown(entry.Channel, entry.KeyFingerprint, now + entry.Remaining, entry.Reason));
                    }
                }).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Runs one store call; a failure is logged when it starts and when it ends, not on every tick.</summary>
    private async Task GuardAsync(Func<Task> call)
    {
        try
        {
            await call().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            if (Interlocked.Exchange(ref _failing, 0) == 1)
            {
                Log.Resumed(_logger);
            }
        }
        catch (Exception ex) when (ex is RedisException or RedisUnavailableException or TimeoutException or InvalidCastException or FormatException)
        {
            if (Interlocked.Exchange(ref _failing, 1) == 0)
            {
                Log.Failing(_logger, ex.GetType().Name);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Cooldowns cannot be shared with other replicas ({ExceptionType}); each replica keeps its own until the store is back")]
        public static partial void Failing(ILogger logger, string exceptionType);

        [LoggerMessage(2, LogLevel.Information, "Cooldowns are shared with other replicas again")]
        public static partial void Resumed(ILogger logger);
    }
}
