using Microsoft.Extensions.Logging.Abstractions;
using NUnit.Framework;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ChannelForwarderHttpClientFactoryTests
{
    private static readonly ChannelForwarderHttpClientFactory Factory = new(NullLogger<ForwarderHttpClientFactory>.Instance);

    private static Dictionary<string, string> Metadata(string connect) => new() { [ChannelClusterMetadata.ConnectTimeout] = connect };

    [Test]
    public void ConfigureHandler_ConnectTimeoutInMetadata_SetOnHandler()
    {
        using var handler = new SocketsHttpHandler();
        var context = new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty, NewMetadata = Metadata("00:00:03") };

        Factory.ConfigureHandlerForTest(context, handler);

        Assert.That(handler.ConnectTimeout, Is.EqualTo(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public void CreateClient_WithMetadata_ReturnsClient()
    {
        // YARP's CreateClient sets UseProxy=false etc. on the handler it builds, then calls ConfigureHandler.
        using var client = Factory.CreateClient(new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty, NewMetadata = Metadata("00:00:03") });
        Assert.That(client, Is.Not.Null);
    }

    [Test]
    public void ConfigureHandler_NoMetadata_KeepsHandlerDefault()
    {
        using var handler = new SocketsHttpHandler();
        var before = handler.ConnectTimeout;
        Factory.ConfigureHandlerForTest(new ForwarderHttpClientContext { ClusterId = "c", NewConfig = HttpClientConfig.Empty }, handler);
        Assert.That(handler.ConnectTimeout, Is.EqualTo(before));
    }

    [TestCase("00:00:03", "00:00:03", true)]
    [TestCase("00:00:03", "00:00:05", false)]
    public void CanReuseOldClient_ConnectTimeoutChanged_NewClient(string oldTimeout, string newTimeout, bool reuse)
    {
        using var old = new HttpMessageInvoker(new SocketsHttpHandler());
        var context = new ForwarderHttpClientContext
        {
            ClusterId = "c",
            OldClient = old,
            OldConfig = HttpClientConfig.Empty,
            NewConfig = HttpClientConfig.Empty,
            OldMetadata = Metadata(oldTimeout),
            NewMetadata = Metadata(newTimeout),
        };

        Assert.That(Factory.CanReuseOldClientForTest(context), Is.EqualTo(reuse));
    }
}
