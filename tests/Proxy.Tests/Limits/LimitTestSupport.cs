using System.Collections.Concurrent;
using CcxProxy.Keys;
using CcxProxy.Limits;
using CcxProxy.Redis;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace CcxProxy.Tests.Limits;

/// <summary>A clock the test moves by hand (timers are not supported: the in-memory store needs none).</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _lock = new();
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_lock)
        {
            return _now;
        }
    }

    public void Advance(TimeSpan by)
    {
        lock (_lock)
        {
            _now += by;
        }
    }
}

/// <summary>Keeps every log line with its level.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue((logLevel, formatter(state, exception)));
}

internal static class Limits
{
    /// <summary>A fresh scope name per test, so tests sharing a Redis never see each other's counters.</summary>
    public static LimitScope Scope(CallerLimits limits, string kind = "key") =>
        new($"{kind}:{Guid.NewGuid():N}"[..(kind.Length + 13)], limits);

    public static RedisConnection Connect(string connectionString) =>
        new(connectionString, NullLogger<RedisConnection>.Instance);

    public static async Task<RedisConnection> ConnectedAsync(string connectionString)
    {
        var connection = Connect(connectionString);
        await connection.MultiplexerAsync.WaitAsync(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 200 && !connection.IsConnected; i++)
        {
            await Task.Delay(25);
        }

        Assert.That(connection.IsConnected, Is.True, "the test Redis did not connect");
        return connection;
    }
}
