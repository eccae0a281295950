using CcxProxy.Redis;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace CcxProxy.Caching;

/// <summary>The gateway's caches: one <see cref="IDistributedCache"/>, a <see cref="HybridCache"/> over it, the response cache.</summary>
internal static class CachingServiceCollectionExtensions
{
    /// <summary>Where the cache's entries live in Redis: <c>ccx:response:GROUP:HASH</c>.</summary>
    public const string RedisPrefix = "ccx:";

    // What this process may hold in cached answers: all of them without Redis, a first level in front of it with Redis;
    // and what the in-memory IDistributedCache may hold (for stores that use it directly).
    private const long LocalOnlyBytes = 256L * 1024 * 1024;
    private const long LocalFirstLevelBytes = 64L * 1024 * 1024;
    private const long InMemoryDistributedBytes = 256L * 1024 * 1024;

    /// <summary>
    /// Registers the <see cref="IDistributedCache"/> (on the gateway's Redis connection when <c>Redis:Configuration</c>
    /// is set, so replicas share it; in this process's memory otherwise), <see cref="HybridCache"/> over it, and the
    /// <see cref="ResponseCache"/>. HybridCache keeps its first level in the <see cref="IMemoryCache"/>: 64 MiB in front
    /// of Redis, or 256 MiB as the only level (it does not stack itself on the in-memory distributed cache).
    /// Each with TryAdd, so tests can replace them first.
    /// </summary>
    public static IServiceCollection AddCcxCaching(this IServiceCollection services)
    {
        services.AddOptions<RedisCacheOptions>().Configure<RedisConnection>((options, redis) =>
        {
            options.InstanceName = RedisPrefix;
            // The gateway's one connection (Sentinel, TLS, its CA and RESP2 as configured), not a second one.
            options.ConnectionMultiplexerFactory = async () => await redis.MultiplexerAsync.ConfigureAwait(false)
                ?? throw new InvalidOperationException("Redis is configured but the connection could not be made");
        });
        services.Configure<MemoryDistributedCacheOptions>(options => options.SizeLimit = InMemoryDistributedBytes);
        services.TryAddSingleton<IDistributedCache>(sp => sp.GetRequiredService<RedisConnection>().IsConfigured
            ? new RedisCache(sp.GetRequiredService<IOptions<RedisCacheOptions>>())
            : new MemoryDistributedCache(sp.GetRequiredService<IOptions<MemoryDistributedCacheOptions>>()));

        // HybridCache's first level is the IMemoryCache: bounded, every entry sized by its payload. The size limit holds
        // for every user of the app's IMemoryCache: one that adds entries without a Size would throw (HybridCache is
        // the only one today).
        services.AddMemoryCache();
        services.AddOptions<MemoryCacheOptions>().Configure<RedisConnection>((options, redis) =>
            options.SizeLimit = redis.IsConfigured ? LocalFirstLevelBytes : LocalOnlyBytes);
        services.AddHybridCache(options =>
        {
            options.MaximumPayloadBytes = ResponseCache.MaxPayloadBytes;
        });
        services.TryAddSingleton(sp => new ResponseCache(sp.GetRequiredService<HybridCache>(), sp.GetRequiredService<RedisConnection>().IsConfigured,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ResponseCache>>()));
        return services;
    }
}
