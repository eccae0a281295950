using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Channels;

/// <summary>Registers the channel store, its polling, and the YARP pieces built from it.</summary>
public static class ChannelsServiceCollectionExtensions
{
    /// <summary>
    /// Registers (TryAdd) the directory watcher as <see cref="IChannelStore"/> singleton + a hosted service that polls,
    /// the YARP <see cref="IProxyConfigProvider"/> built from the store, and the channel-aware
    /// <see cref="IForwarderHttpClientFactory"/> (it replaces YARP's default factory, not a custom one).
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets <see cref="ChannelsOptions"/>.</param>
    /// <param name="environment">Resolves <c>"env:NAME"</c> (the host passes <c>name =&gt; IConfiguration[name]</c>).</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddCcxChannels(this IServiceCollection services, Action<ChannelsOptions> configure, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        ArgumentNullException.ThrowIfNull(environment);

        services.AddOptions<ChannelsOptions>().Configure(configure);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ChannelDirectoryWatcher(
            sp.GetRequiredService<IOptions<ChannelsOptions>>().Value,
            environment,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<ChannelDirectoryWatcher>>()));
        services.TryAddSingleton<IChannelStore>(sp => sp.GetRequiredService<ChannelDirectoryWatcher>());
        services.AddHostedService<ChannelDirectoryPollingService>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IProxyConfigProvider, ChannelProxyConfigProvider>());

        // AddReverseProxy TryAdds YARP's own factory; replace that one (whichever order the calls came in)
        // but leave a factory the host chose itself.
        var yarpDefault = services.FirstOrDefault(static d => d.ServiceType == typeof(IForwarderHttpClientFactory) && d.ImplementationType == typeof(ForwarderHttpClientFactory));
        if (yarpDefault is not null)
        {
            services.Remove(yarpDefault);
        }

        services.TryAddSingleton<IForwarderHttpClientFactory, ChannelForwarderHttpClientFactory>();
        return services;
    }
}
