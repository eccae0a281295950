using StackExchange.Redis;

namespace CcxProxy.Limits;

/// <summary>
/// The strict alternative to <see cref="FailOpenLimitStore"/> (<c>Limits:OnRedisFailure = closed</c>): when
/// Redis is unreachable or too slow, requests are refused (<see cref="LimitDecision.Unavailable"/>, answered
/// with 503) rather than admitted under per-replica limits. For deployments where a shared quota must never
/// be exceeded. Releases and renewals that fail are dropped (leases expire by themselves).
/// </summary>
internal sealed partial class FailClosedLimitStore : ILimitStore
{
    private readonly RedisLimitStore _redis;
    private readonly LimitStoreOptions _options;
    private readonly LimitsMetrics _metrics;
    private readonly ILogger<FailClosedLimitStore> _logger;
    private int _failing;

    public FailClosedLimitStore(RedisLimitStore redis, LimitStoreOptions options, LimitsMetrics metrics, ILogger<FailClosedLimitStore> logger)
    {
        _redis = redis;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _metrics.ObserveAvailability(() => Volatile.Read(ref _failing) == 0);
    }

    public async Task<LimitDecision> AcquireAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, CancellationToken cancellationToken)
    {
        try
        {
            var decision = await _redis.AcquireAsync(scopes, leaseId, estimatedInputTokens, cancellationToken)
                .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
            Recovered();
            return decision;
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            Failed(ex);
            return LimitDecision.Unavailable;
        }
    }

    public async Task ReleaseAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, long actualInputTokens, long actualOutputTokens, CancellationToken cancellationToken)
    {
        try
        {
            await _redis.ReleaseAsync(scopes, leaseId, estimatedInputTokens, actualInputTokens, actualOutputTokens, cancellationToken)
                .WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            Failed(ex);
        }
    }

    public async Task RenewAsync(IReadOnlyList<LimitScope> scopes, string leaseId, CancellationToken cancellationToken)
    {
        try
        {
            await _redis.RenewAsync(scopes, leaseId, cancellationToken).WaitAsync(_options.RedisTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsRedisFailure(ex, cancellationToken))
        {
            Failed(ex);
        }
    }

    private static bool IsRedisFailure(Exception ex, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && ex is TimeoutException or RedisException or RedisUnavailableException;

    private void Failed(Exception ex)
    {
        if (Interlocked.Exchange(ref _failing, 1) == 0)
        {
            Log.RedisDown(_logger, ex.GetType().Name);
        }
    }

    private void Recovered()
    {
        if (Interlocked.Exchange(ref _failing, 0) == 1)
        {
            Log.RedisBack(_logger);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Redis is unavailable for limits ({ExceptionType}); failing closed: limited requests are refused until it returns")]
        public static partial void RedisDown(ILogger logger, string exceptionType);

        [LoggerMessage(2, LogLevel.Information, "Redis is available for limits again")]
        public static partial void RedisBack(ILogger logger);
    }
}
