using StackExchange.Redis;

namespace CcxProxy.Redis;

/// <summary>
/// The shared Redis connection, when <c>Redis:Configuration</c> is set. Redis-backed stores (keys,
/// limits, quotas) are built on it; with no configuration everything is held in memory.
/// The connection string may hold a password: it is never logged.
/// </summary>
public sealed partial class RedisConnection : IDisposable
{
    private readonly Lazy<ConnectionMultiplexer?> _multiplexer;
    private readonly ILogger<RedisConnection> _logger;

    /// <summary>Creates the connection holder; it connects on first use, in the background, and reconnects by itself.</summary>
    public RedisConnection(string? configuration, ILogger<RedisConnection> logger)
    {
        _logger = logger;
        IsConfigured = !string.IsNullOrWhiteSpace(configuration);
        _multiplexer = new Lazy<ConnectionMultiplexer?>(() => IsConfigured ? Connect(configuration!) : null);
    }

    /// <summary>True when a Redis connection string was given.</summary>
    public bool IsConfigured { get; }

    /// <summary>True when configured and connected now.</summary>
    public bool IsConnected => IsConfigured && _multiplexer.Value?.IsConnected == true;

    /// <summary>The multiplexer, or null when Redis is not configured.</summary>
    public IConnectionMultiplexer? Multiplexer => _multiplexer.Value;

    private ConnectionMultiplexer? Connect(string configuration)
    {
        var options = ConfigurationOptions.Parse(configuration);
        // Never block start-up or a request on Redis: connect in the background and keep retrying.
        options.AbortOnConnectFail = false;
        try
        {
            return ConnectionMultiplexer.Connect(options);
        }
        catch (RedisException ex)
        {
            Log.ConnectFailed(_logger, ex.GetType().Name);
            return null;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_multiplexer.IsValueCreated)
        {
            _multiplexer.Value?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Error, "Could not set up the Redis connection ({ExceptionType})")]
        public static partial void ConnectFailed(ILogger logger, string exceptionType);
    }
}
