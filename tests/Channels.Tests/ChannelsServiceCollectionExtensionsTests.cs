using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NUnit.Framework;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ChannelsServiceCollectionExtensionsTests
{
    [Test]
    public void AddCcxChannels_AfterAddReverseProxy_ResolvesChannelServices()
    {
        using var dir = new TempDirectory();
        dir.Write("a.json", """{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["env:KEY"]}""");
        var services = new ServiceCollection().AddLogging();
        services.AddReverseProxy();
        services.AddCcxChannels(o => o.Directory = dir.Path, name => name == "KEY" ? "sk-from-config" : null);

        using var provider = services.BuildServiceProvider();
        var store = provider.GetRequiredService<IChannelStore>();

        Assert.Multiple(() =>
        {
            Assert.That(store.IsLoaded, Is.True);
            Assert.That(store.Current.Find("a")!.ApiKeys.Single().Value, Is.EqualTo("sk-from-config"));
            Assert.That(provider.GetServices<IProxyConfigProvider>().OfType<ChannelProxyConfigProvider>().Count(), Is.EqualTo(1));
            Assert.That(provider.GetRequiredService<IForwarderHttpClientFactory>(), Is.TypeOf<ChannelForwarderHttpClientFactory>());
            Assert.That(provider.GetServices<IHostedService>().OfType<ChannelDirectoryPollingService>().Count(), Is.EqualTo(1));
        });
    }

    [Test]
    public void AddCcxChannels_BeforeAddReverseProxy_ChannelFactoryWins()
    {
        var services = new ServiceCollection().AddLogging();
        services.AddCcxChannels(o => o.Directory = "does-not-exist-" + Guid.NewGuid().ToString("N"), _ => null);
        services.AddReverseProxy();

        using var provider = services.BuildServiceProvider();
        Assert.Multiple(() =>
        {
            Assert.That(provider.GetRequiredService<IForwarderHttpClientFactory>(), Is.TypeOf<ChannelForwarderHttpClientFactory>());
            Assert.That(provider.GetRequiredService<IChannelStore>().Current.Channels, Is.Empty);
        });
    }
}
