using System.Collections.Concurrent;
using CcxProxy.Redis;
using StackExchange.Redis;

namespace CcxProxy.Limits;

/// <summary>
/// Redis first, this replica's memory when Redis does not answer in time: a rate limiter outage never fails or
/// hangs a request (the worst added latency is <see cref="LimitStoreOptions.RedisTimeout"/>). While degraded one
/// call every <see cref="LimitStoreOptions.RedisRetryInterval"/> probes Redis; the first answer brings every call
/// back to the shared counters. One warning per change of state, never one per request.
/// </summary>
/// <remarks>
/// A call that timed out may still run in Redis later (the client cannot cancel a sent command): at worst it
/// counts one request there and holds a slot until the lease expires. Slots taken in memory are released and
/// renewed in memory.
/// </remarks>
internal sealed partial class FailOpenLimitStore : ILimitStore
{
    private readonly RedisConnection _connection;
    private readonly ILimitStore _redis;
    private readonly ILimitStore _memory;
    private readonly LimitStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly LimitsMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, byte> _memoryLeases = new(StringComparer.Ordinal);
    private int _degraded;
    private int _probing;
    private long _retryAt;

    /// <summary>Creates the store.</summary>
    public FailOpenLimitStore(RedisConnection connection, ILimitStore redis, ILimitStore memory, LimitStoreOptions options, TimeProvider time, LimitsMetrics metrics, ILogger<FailOpenLimitStore> logger)
    {
        _connection = connection;
        _redis = redis;
        _memory = memory;
        _options = options;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        metrics.ObserveAvailability(() => !IsDegraded);
    }

    private enum Route
    {
        Redis,
        Probe,
        Memory,
    }

    /// <summary>True while limits are decided in this replica's memory because Redis is unavailable.</summary>
    public bool IsDegraded => Volatile.Read(ref _degraded) == 1;

    /// <inheritdoc />
    public async Task<LimitDecision> AcquireAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, CancellationToken cancellationToken)
    {
        var route = ChooseRoute();
        if (route != Route.Memory)
        {
            try
            {
                var decision = await WithTimeout(_redis.AcquireAsync(scopes, leaseId, estimatedInputTokens, cancellationToken), cancellationToken).ConfigureAwait(false);
                MarkAvailable();
                return decision;
            }
            catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
            {
                MarkDegraded(ex.GetType().Name);
            }
            finally
            {
                EndProbe(route);
            }
        }

        _metrics.Fallback("acquire");
        var fallback = await _memory.AcquireAsync(scopes, leaseId, estimatedInputTokens, cancellationToken).ConfigureAwait(false);
        if (fallback.Admitted)
        {
            _memoryLeases[leaseId] = 0;
        }

        return fallback;
    }

    /// <inheritdoc />
    public async Task ReleaseAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, long actualInputTokens, long actualOutputTokens, CancellationToken cancellationToken)
    {
        if (!_memoryLeases.TryRemove(leaseId, out _))
        {
            var route = ChooseRoute();
            if (route != Route.Memory)
            {
                try
                {
                    await WithTimeout(_redis.ReleaseAsync(scopes, leaseId, estimatedInputTokens, actualInputTokens, actualOutputTokens, cancellationToken), cancellationToken).ConfigureAwait(false);
                    MarkAvailable();
                    return;
                }
                catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
                {
                    // The Redis slot, if any, expires with its lease; the usage is counted here at least.
                    MarkDegraded(ex.GetType().Name);
                }
                finally
                {
                    EndProbe(route);
                }
            }

            _metrics.Fallback("release");
        }

        await _memory.ReleaseAsync(scopes, leaseId, estimatedInputTokens, actualInputTokens, actualOutputTokens, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RenewAsync(IReadOnlyList<LimitScope> scopes, string leaseId, CancellationToken cancellationToken)
    {
        if (!_memoryLeases.ContainsKey(leaseId))
        {
            var route = ChooseRoute();
            if (route == Route.Memory)
            {
                // A Redis slot cannot be renewed now; it lives until its lease expires.
                _metrics.Fallback("renew");
                return;
            }

            try
            {
                await WithTimeout(_redis.RenewAsync(scopes, leaseId, cancellationToken), cancellationToken).ConfigureAwait(false);
                MarkAvailable();
            }
            catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
            {
                MarkDegraded(ex.GetType().Name);
                _metrics.Fallback("renew");
            }
            finally
            {
                EndProbe(route);
            }

            return;
        }

        await _memory.RenewAsync(scopes, leaseId, cancellationToken).ConfigureAwait(false);
    }

    private Route ChooseRoute()
    {
        if (!_connection.IsConnected)
        {
            // The client knows the socket is down (killed, refused): fail fast, without a timeout.
            MarkDegraded("NotConnected");
            return Route.Memory;
        }

        if (!IsDegraded)
        {
            return Route.Redis;
        }

        if (_time.GetTimestamp() < Volatile.Read(ref _retryAt))
        {
            return Route.Memory;
        }

        // One probe at a time: the others keep answering from memory without waiting.
        return Interlocked.CompareExchange(ref _probing, 1, 0) == 0 ? Route.Probe : Route.Memory;
    }

    private void EndProbe(Route route)
    {
        if (route == Route.Probe)
        {
            Volatile.Write(ref _probing, 0);
        }
    }

    private async Task WithTimeout(Task task, CancellationToken cancellationToken)
    {
        try
        {
            await task.WaitAsync(_options.RedisTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Observe(task);
            throw;
        }
    }

    private async Task<T> WithTimeout<T>(Task<T> task, CancellationToken cancellationToken)
    {
        try
        {
            return await task.WaitAsync(_options.RedisTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Observe(task);
            throw;
        }
    }

    /// <summary>A call abandoned on timeout may fail later: observe it so it is not an unobserved exception.</summary>
    private static void Observe(Task task) =>
        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static bool IsRedisFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is TimeoutException or RedisException or RedisUnavailableException
        || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);

    private void MarkDegraded(string reason)
    {
        Volatile.Write(ref _retryAt, _time.GetTimestamp() + (long)(_options.RedisRetryInterval.TotalSeconds * _time.TimestampFrequency));
        if (Interlocked.Exchange(ref _degraded, 1) == 0)
        {
            Log.RedisUnavailable(_logger, reason);
        }
    }

    private void MarkAvailable()
    {
        if (Interlocked.Exchange(ref _degraded, 0) == 1)
        {
            Log.RedisAvailable(_logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Redis is unavailable for rate limits ({Reason}): this replica decides limits in memory until Redis answers again")]
        public static partial void RedisUnavailable(ILogger logger, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Redis answers again: rate limits are shared across replicas again")]
        public static partial void RedisAvailable(ILogger logger);
    }
}
