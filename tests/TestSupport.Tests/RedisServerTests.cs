using System.Diagnostics;
using System.Net.Sockets;
using NUnit.Framework;

namespace CcxProxy.TestSupport.Tests;

[TestFixture]
[Category("Redis")]
public sealed class RedisServerTests
{
    private RedisServer _redis = null!;

    [SetUp]
    public async Task SetUp() => _redis = await RedisServer.StartAsync().WaitAsync(TimeSpan.FromSeconds(15));

    [TearDown]
    public async Task TearDown() => await _redis.DisposeAsync().AsTask().Bounded();

    [Test]
    public async Task StartAsync_Always_AnswersPingOnLoopbackPort()
    {
        Assert.That(await _redis.CommandAsync("PING").Bounded(), Is.EqualTo("PONG"));
        Assert.That(_redis.ConnectionString, Is.EqualTo($"127.0.0.1:{_redis.Port},abortConnect=false,connectTimeout=2000,syncTimeout=2000"));
    }

    [Test]
    public async Task CommandAsync_ReplyKinds_AreRenderedLikeRedisCli()
    {
        Assert.That(await _redis.CommandAsync("SET", "k", "välue with spaces").Bounded(), Is.EqualTo("OK"));
        Assert.That(await _redis.CommandAsync("GET", "k").Bounded(), Is.EqualTo("välue with spaces"));
        Assert.That(await _redis.CommandAsync("GET", "missing").Bounded(), Is.EqualTo("(nil)"));
        Assert.That(await _redis.CommandAsync("INCRBY", "n", "5").Bounded(), Is.EqualTo("5"));
        Assert.That(await _redis.CommandAsync("RPUSH", "l", "a", "b").Bounded(), Is.EqualTo("2"));
        Assert.That(await _redis.CommandAsync("LRANGE", "l", "0", "-1").Bounded(), Is.EqualTo("a\nb"));
        Assert.That(await _redis.CommandAsync("NOSUCHCOMMAND").Bounded(), Does.StartWith("(error) ERR"));
    }

    [Test]
    public async Task KillAsync_ThenRestartAsync_SamePortAndStateLost()
    {
        var port = _redis.Port;
        await _redis.CommandAsync("SET", "k", "v").Bounded();

        await _redis.KillAsync().Bounded();
        Assert.That(async () => await _redis.CommandAsync("PING").Bounded(), Throws.InstanceOf<SocketException>());

        await _redis.RestartAsync().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.That(_redis.Port, Is.EqualTo(port));
        Assert.That(await _redis.CommandAsync("PING").Bounded(), Is.EqualTo("PONG"));
        Assert.That(await _redis.CommandAsync("GET", "k").Bounded(), Is.EqualTo("(nil)"));
    }

    [Test]
    public async Task Freeze_ThenThaw_CommandTimesOutThenAnswers()
    {
        _redis.CommandTimeout = TimeSpan.FromMilliseconds(300);

        _redis.Freeze();
        Assert.That(async () => await _redis.CommandAsync("PING").Bounded(), Throws.InstanceOf<TimeoutException>());

        _redis.Thaw();
        Assert.That(await _redis.CommandAsync("PING").Bounded(), Is.EqualTo("PONG"));
    }

    [Test]
    public async Task DisposeAsync_Frozen_LeavesNoProcess()
    {
        var pid = _redis.ProcessId;
        _redis.Freeze();

        await _redis.DisposeAsync().AsTask().Bounded();

        Assert.That(() => Process.GetProcessById(pid), Throws.ArgumentException);
        Assert.That(() => _redis.ProcessId, Throws.InvalidOperationException);
    }

    [Test]
    public async Task StartAsync_Twice_GivesIndependentServers()
    {
        await using var other = await RedisServer.StartAsync().WaitAsync(TimeSpan.FromSeconds(15));

        await _redis.CommandAsync("SET", "k", "one").Bounded();

        Assert.That(other.Port, Is.Not.EqualTo(_redis.Port));
        Assert.That(await other.CommandAsync("GET", "k").Bounded(), Is.EqualTo("(nil)"));
    }

    [Test]
    public async Task StartTlsAsync_SpeaksOnlyTls_WithACertificateForLocalhost()
    {
        using var ca = TestCertificateAuthority.Create();
        await using var tls = await RedisServer.StartTlsAsync(ca).WaitAsync(TimeSpan.FromSeconds(15));

        Assert.That(tls.IsTls, Is.True);
        Assert.That(await tls.CommandAsync("PING").Bounded(), Is.EqualTo("PONG"), "over TLS, trusting the CA");
        Assert.That(tls.ConnectionString, Does.StartWith($"localhost:{tls.Port},ssl=true"));

        // A plain-text client gets no answer on the TLS port.
        using var plain = new System.Net.Sockets.TcpClient();
        await plain.ConnectAsync(System.Net.IPAddress.Loopback, tls.Port);
        var stream = plain.GetStream();
        await stream.WriteAsync("PING\r\n"u8.ToArray());
        var buffer = new byte[64];
        string answer;
        try
        {
            var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
            answer = System.Text.Encoding.ASCII.GetString(buffer, 0, read);
        }
        catch (IOException)
        {
            answer = "(connection reset)";
        }

        Assert.That(answer, Does.Not.Contain("PONG"));
    }
}
