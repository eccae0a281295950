using CcxProxy.Redis;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace CcxProxy.Limits;

/// <summary>Registers the limiter.</summary>
public static class LimitsServiceCollectionExtensions
{
    /// <summary>
    /// Registers (TryAdd) the <see cref="ILimitStore"/> singleton: Redis with a per-replica in-memory fallback when
    /// the <see cref="RedisConnection"/> singleton is configured, otherwise the in-memory store alone. Also registers
    /// <see cref="TimeProvider.System"/> and the metrics services, if absent.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddCcxLimits(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        // Limits:RedisTimeoutMilliseconds: how long one decision may wait on Redis before falling back (default 250).
        services.TryAddSingleton(sp => int.TryParse(sp.GetService<IConfiguration>()?["Limits:RedisTimeoutMilliseconds"],
            System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var ms) && ms > 0
                ? new LimitStoreOptions { RedisTimeout = TimeSpan.FromMilliseconds(ms) }
                : new LimitStoreOptions());
        services.TryAddSingleton<LimitsMetrics>();
        services.TryAddSingleton<ILimitStore>(sp =>
        {
            var time = sp.GetRequiredService<TimeProvider>();
            var options = sp.GetRequiredService<LimitStoreOptions>();
            var memory = new InMemoryLimitStore(time, options);
            var redis = sp.GetService<RedisConnection>();
            if (redis is not { IsConfigured: true })
            {
                return memory;
            }

            // Limits:OnRedisFailure: "open" (default) admits under per-replica limits while Redis is away,
            // "closed" refuses limited requests (503) until it returns.
            if (string.Equals(sp.GetService<IConfiguration>()?["Limits:OnRedisFailure"], "closed", StringComparison.OrdinalIgnoreCase))
            {
                return new FailClosedLimitStore(new RedisLimitStore(redis, options), options,
                    sp.GetRequiredService<LimitsMetrics>(), sp.GetRequiredService<ILogger<FailClosedLimitStore>>());
            }

            return new FailOpenLimitStore(
                redis,
                new RedisLimitStore(redis, options),
                memory,
                options,
                time,
                sp.GetRequiredService<LimitsMetrics>(),
                sp.GetRequiredService<ILogger<FailOpenLimitStore>>());
        });
        return services;
    }
}
