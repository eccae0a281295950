using CcxProxy.Redis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

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
        // Bound from the host's configuration when there is one (a bare service collection gets the defaults).
        services.AddOptions<LimitsSettings>()
            .Configure<IServiceProvider>((settings, provider) => provider.GetService<IConfiguration>()?.GetSection(LimitsSettings.Section).Bind(settings))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LimitsSettings>, LimitsSettingsValidation>());
        services.TryAddSingleton(sp => new LimitStoreOptions
        {
            RedisTimeout = TimeSpan.FromMilliseconds(sp.GetRequiredService<IOptions<LimitsSettings>>().Value.RedisTimeoutMilliseconds),
        });
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

            // "open" (default) admits under per-replica limits while Redis is away, "closed" refuses limited requests
            // (503) until it returns.
            if (sp.GetRequiredService<IOptions<LimitsSettings>>().Value.FailsClosed)
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
