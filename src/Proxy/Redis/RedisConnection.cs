using StackExchange.Redis;

namespace CcxProxy.Redis;

/// <summary>
/// The shared Redis connection, when <c>Redis:Configuration</c> is set. Redis-backed stores (keys,
/// limits, quotas) are built on it; with no configuration everything is held in memory.
/// It connects in the background from start-up and reconnects by itself: nothing ever waits on it
/// (readiness only reads its state). The connection string may hold a password: it is never logged.
/// </summary>
public sealed partial class RedisConnection : IDisposable
{
    private readonly Task<ConnectionMultiplexer?> _connecting;
    private readonly ILogger<RedisConnection> _logger;

    /// <summary>Starts connecting (in the background) when <paramref name="configuration"/> is not empty.</summary>
    public RedisConnection(string? configuration, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        IsConfigured = !string.IsNullOrWhiteSpace(configuration);
        _connecting = IsConfigured ? Task.Run(() => ConnectAsync(configuration!)) : Task.FromResult<ConnectionMultiplexer?>(null);
    }

    /// <summary>True when a Redis connection string was given.</summary>
    public bool IsConfigured { get; }

    /// <summary>True when configured and connected now. Never blocks.</summary>
    public bool IsConnected => _connecting.IsCompletedSuccessfully && _connecting.Result?.IsConnected == true;

    /// <summary>The multiplexer once the first connection attempt has finished; null when Redis is not configured or the configuration is unusable.</summary>
    public Task<ConnectionMultiplexer?> MultiplexerAsync => _connecting;

    private async Task<ConnectionMultiplexer?> ConnectAsync(string configuration)
    {
        try
        {
            var options = ConfigurationOptions.Parse(configuration);
            // Keep retrying in the background rather than failing when Redis is down at start-up.
            options.AbortOnConnectFail = false;
            return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException)
        {
            Log.ConnectFailed(_logger, ex.GetType().Name);
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_connecting.IsCompletedSuccessfully)
        {
            _connecting.Result?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Could not set up the Redis connection ({ExceptionType}); check Redis:Configuration")]
        public static partial void ConnectFailed(ILogger logger, string exceptionType);
    }
}
