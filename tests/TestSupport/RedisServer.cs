using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace CcxProxy.TestSupport;

/// <summary>
/// A real, throw-away <c>redis-server</c> on 127.0.0.1 and a free port, with no persistence,
/// for tests that need Redis to fail in real ways: killed, restarted empty, frozen.
/// </summary>
/// <remarks>
/// The process is killed on dispose and, as a last resort, when the test process exits, so no
/// redis-server outlives the suite. <see cref="CommandAsync"/> speaks RESP over a plain socket
/// so tests can inspect keys without the client library under test.
/// </remarks>
public sealed class RedisServer : IAsyncDisposable
{
    private const string FallbackPath = "/usr/bin/redis-server";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(10);

    private readonly string _executable;
    private readonly DirectoryInfo _directory;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly EventHandler _onProcessExit;
    private Process? _process;
    private int _disposed;

    // Set for a TLS server: the CA that issued its certificate (the client trusts only that) and the PEM files.
    private readonly System.Security.Cryptography.X509Certificates.X509Certificate2? _ca;
    private readonly string[] _tlsArgs = [];

    // A replica's --replicaof, or a sentinel's config file and --sentinel (set by the factories below).
    private string[] _roleArgs = [];
    private string? _configFile;

    private RedisServer(string executable, DirectoryInfo directory, int port, TestCertificateAuthority? ca = null)
    {
        _executable = executable;
        _directory = directory;
        Port = port;
        if (ca is not null)
        {
            // A certificate naming only localhost, as a managed Redis's names only its host.
            using var certificate = ca.IssueServerCertificate("localhost");
            var certPath = Path.Combine(directory.FullName, "redis.crt");
            var keyPath = Path.Combine(directory.FullName, "redis.key");
            File.WriteAllText(certPath, certificate.ExportCertificatePem());
            using (var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(certificate)!)
            {
                File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
            }

            _ca = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(ca.Certificate.RawData);
            _tlsArgs = ["--port", "0", "--tls-port", port.ToString(CultureInfo.InvariantCulture), "--tls-cert-file", certPath,
                "--tls-key-file", keyPath, "--tls-ca-cert-file", ca.PemPath, "--tls-auth-clients", "no"];
        }

        _onProcessExit = (_, _) => KillNow();
        AppDomain.CurrentDomain.ProcessExit += _onProcessExit;
    }

    /// <summary>The port redis-server listens on; it stays the same across <see cref="RestartAsync"/>.</summary>
    public int Port { get; }

    /// <summary>A StackExchange.Redis connection string for this server, with short timeouts (and <c>ssl=true</c> for a TLS server, addressed as <c>localhost</c>, the name its certificate holds).</summary>
    public string ConnectionString => _ca is null
        ? $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000,syncTimeout=2000"
        : $"localhost:{Port},ssl=true,abortConnect=false,connectTimeout=2000,syncTimeout=2000";

    /// <summary>True when the server speaks only TLS (<see cref="StartTlsAsync"/>).</summary>
    public bool IsTls => _ca is not null;

    /// <summary>The pid of the running redis-server.</summary>
    /// <exception cref="InvalidOperationException">The server is not running (killed or disposed).</exception>
    public int ProcessId => _process?.Id ?? throw new InvalidOperationException("redis-server is not running.");

    /// <summary>How long <see cref="CommandAsync"/> waits for a reply. Default 2 s.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The last lines redis-server wrote to stdout and stderr, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts redis-server and waits until it answers PING.</summary>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running server.</returns>
    /// <exception cref="InvalidOperationException">redis-server is not installed or did not start.</exception>
    public static Task<RedisServer> StartAsync(CancellationToken ct = default) => StartAsync(null, ct);

    /// <summary>Starts a replica of <paramref name="master"/> (<c>--replicaof</c>) and waits until it answers PING.</summary>
    /// <param name="master">The master it copies.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running replica.</returns>
    public static Task<RedisServer> StartReplicaAsync(RedisServer master, CancellationToken ct = default) =>
        StartAsync(null, ct, server => server._roleArgs = ["--replicaof", "127.0.0.1", master.Port.ToString(CultureInfo.InvariantCulture)]);

    /// <summary>
    /// Starts a Sentinel (<c>redis-server sentinel.conf --sentinel</c>) watching <paramref name="master"/> as
    /// <paramref name="serviceName"/>, with a quorum of 2 and short timeouts (down after 1 s, failover within 5 s),
    /// and waits until it answers PING.
    /// </summary>
    /// <param name="master">The master to watch.</param>
    /// <param name="serviceName">The service (master) name clients ask for.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running sentinel.</returns>
    public static Task<RedisServer> StartSentinelAsync(RedisServer master, string serviceName, CancellationToken ct = default) =>
        StartAsync(null, ct, server =>
        {
            server._configFile = Path.Combine(server._directory.FullName, "sentinel.conf");
            File.WriteAllText(server._configFile, string.Join('\n',
                $"sentinel monitor {serviceName} 127.0.0.1 {master.Port} 2",
                $"sentinel down-after-milliseconds {serviceName} 1000",
                $"sentinel failover-timeout {serviceName} 5000",
                $"sentinel parallel-syncs {serviceName} 1") + "\n");
            server._roleArgs = ["--sentinel"];
        });

    /// <summary>
    /// Starts redis-server speaking only TLS (<c>--tls-port</c>, no plain port), with a certificate for
    /// <c>localhost</c> issued by <paramref name="ca"/>, and waits until it answers PING over TLS.
    /// </summary>
    /// <param name="ca">The CA that issues the server's certificate; clients must trust it.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <returns>The running server.</returns>
    public static Task<RedisServer> StartTlsAsync(TestCertificateAuthority ca, CancellationToken ct = default) =>
        StartAsync(ca ?? throw new ArgumentNullException(nameof(ca)), ct);

    private static async Task<RedisServer> StartAsync(TestCertificateAuthority? ca, CancellationToken ct, Action<RedisServer>? configure = null)
    {
        var executable = FindExecutable() ?? throw new InvalidOperationException(
            "redis-server was not found on PATH nor at /usr/bin/redis-server; install it: apt-get install -y redis-server");

        // Another process can take the free port between FreePort.Get and redis binding it: try a few.
        for (var attempt = 1; ; attempt++)
        {
            var server = new RedisServer(executable, Directory.CreateTempSubdirectory("ccx-redis-"), FreePort.Get(), ca);
            configure?.Invoke(server);
            try
            {
                await server.StartProcessAsync(ct);
                return server;
            }
            catch (InvalidOperationException) when (attempt < 3 && server.Output.Contains("Address already in use", StringComparison.OrdinalIgnoreCase))
            {
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Kills redis-server with SIGKILL and waits for it to exit.</summary>
    /// <returns>A task that completes when the process is gone.</returns>
    public async Task KillAsync()
    {
        var process = Interlocked.Exchange(ref _process, null);
        if (process is null)
        {
            return;
        }

        using (process)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }

            await process.WaitForExitAsync().WaitAsync(StartTimeout);
        }
    }

    /// <summary>Starts redis-server again on the same port, empty, and waits until it answers PING.</summary>
    /// <returns>A task that completes when the server is ready.</returns>
    public async Task RestartAsync()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await KillAsync();
        await StartProcessAsync(CancellationToken.None);
    }

    /// <summary>Stops the process with SIGSTOP: connections are accepted by the kernel but nothing answers.</summary>
    public void Freeze() => Signal("STOP");

    /// <summary>Resumes a frozen process with SIGCONT.</summary>
    public void Thaw() => Signal("CONT");

    /// <summary>Sends one command over a fresh connection and returns the reply as text.</summary>
    /// <param name="args">The command and its arguments, e.g. <c>"SET", "k", "v"</c>.</param>
    /// <returns>
    /// Like redis-cli: a simple string or integer as is, a bulk string's content, <c>(nil)</c> for a
    /// null reply, <c>(error) …</c> for an error, and an array's elements joined with <c>\n</c>.
    /// </returns>
    /// <exception cref="TimeoutException">No reply within <see cref="CommandTimeout"/>.</exception>
    public async Task<string> CommandAsync(params string[] args)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentOutOfRangeException.ThrowIfZero(args.Length);
        using var cts = new CancellationTokenSource(CommandTimeout);
        try
        {
            return await SendAsync(Port, _ca, args, cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"redis-server on port {Port} did not answer {args[0]} within {CommandTimeout}.");
        }
    }

    /// <summary>Kills redis-server and deletes its directory.</summary>
    /// <returns>A task that completes when the process is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await KillAsync();
        }
        finally
        {
            AppDomain.CurrentDomain.ProcessExit -= _onProcessExit;
            _ca?.Dispose();
            try
            {
                _directory.Delete(recursive: true);
            }
            catch (IOException)
            {
                // A temp directory left behind is harmless.
            }
            catch (UnauthorizedAccessException)
            {
                // Same.
            }
        }
    }

    private static string? FindExecutable()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return File.Exists(FallbackPath) ? FallbackPath : null;
    }

    private async Task StartProcessAsync(CancellationToken ct)
    {
        var info = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory.FullName,
        };
        string[] args =
        [
            .. (_configFile is null ? Array.Empty<string>() : [_configFile]),
            "--port", Port.ToString(CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", _directory.FullName,
            .. _tlsArgs,
            .. _roleArgs,
        ];
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Remember(e.Data);
        process.ErrorDataReceived += (_, e) => Remember(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                // Waits for the redirected streams to drain, so the message holds redis's reason.
                process.WaitForExit();
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} before answering PING on port {Port}:\n{Output}");
            }

            if (await TryPingAsync(Port, _ca, ct))
            {
                return;
            }

            if (deadline.Elapsed > StartTimeout)
            {
                await KillAsync();
                throw new InvalidOperationException($"redis-server did not answer PING on port {Port} within {StartTimeout}:\n{Output}");
            }

            await Task.Delay(25, ct);
        }
    }

    private static async Task<bool> TryPingAsync(int port, System.Security.Cryptography.X509Certificates.X509Certificate2? ca, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromMilliseconds(500));
        try
        {
            return await SendAsync(port, ca, ["PING"], cts.Token) == "PONG";
        }
        catch (Exception ex) when (ex is SocketException or IOException or System.Security.Authentication.AuthenticationException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return false;
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 200 && _output.TryDequeue(out _))
        {
        }
    }

    private void Signal(string signal)
    {
        var pid = ProcessId;
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })
            ?? throw new InvalidOperationException("Could not run kill.");
        if (!kill.WaitForExit(5000) || kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {pid} failed.");
        }
    }

    private void KillNow()
    {
        try
        {
            _process?.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    private static async Task<string> SendAsync(int port, System.Security.Cryptography.X509Certificates.X509Certificate2? ca, string[] args, CancellationToken ct)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, ct);
        Stream stream = client.GetStream();
        if (ca is not null)
        {
            var tls = new System.Net.Security.SslStream(stream, leaveInnerStreamOpen: false);
            var policy = new System.Security.Cryptography.X509Certificates.X509ChainPolicy
            {
                TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust,
                RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.Add(ca);
            await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "localhost", CertificateChainPolicy = policy }, ct);
            stream = tls;
        }

        var request = new StringBuilder();
        request.Append(CultureInfo.InvariantCulture, $"*{args.Length}\r\n");
        foreach (var arg in args)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(arg)}\r\n{arg}\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), ct);
        return await ReadReplyAsync(new RespReader(stream), ct);
    }

    private static async Task<string> ReadReplyAsync(RespReader reader, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct);
        if (line.Length == 0)
        {
            throw new InvalidDataException("Empty RESP reply line.");
        }

        var rest = line[1..];
        switch (line[0])
        {
            case '+':
            case ':':
                return rest;
            case '-':
                return "(error) " + rest;
            case '$':
                var length = int.Parse(rest, CultureInfo.InvariantCulture);
                return length < 0 ? "(nil)" : await reader.ReadBulkAsync(length, ct);
            case '*':
                var count = int.Parse(rest, CultureInfo.InvariantCulture);
                if (count < 0)
                {
                    return "(nil)";
                }

                var items = new List<string>(count);
                for (var i = 0; i < count; i++)
                {
                    items.Add(await ReadReplyAsync(reader, ct));
                }

                return string.Join('\n', items);
            default:
                throw new InvalidDataException($"Unsupported RESP reply: {line}");
        }
    }

    /// <summary>A minimal buffered reader of RESP lines and bulk strings.</summary>
    private sealed class RespReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[4096];
        private int _start;
        private int _end;

        public async ValueTask<string> ReadLineAsync(CancellationToken ct)
        {
            var bytes = new List<byte>();
            while (true)
            {
                var b = await ReadByteAsync(ct);
                if (b == '\r')
                {
                    await ReadByteAsync(ct); // '\n'
                    return Encoding.UTF8.GetString([.. bytes]);
                }

                bytes.Add(b);
            }
        }

        public async ValueTask<string> ReadBulkAsync(int length, CancellationToken ct)
        {
            var bytes = new byte[length];
            for (var i = 0; i < length; i++)
            {
                bytes[i] = await ReadByteAsync(ct);
            }

            await ReadByteAsync(ct); // '\r'
            await ReadByteAsync(ct); // '\n'
            return Encoding.UTF8.GetString(bytes);
        }

        private async ValueTask<byte> ReadByteAsync(CancellationToken ct)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = await stream.ReadAsync(_buffer, ct);
                if (_end == 0)
                {
                    throw new IOException("redis-server closed the connection.");
                }
            }

            return _buffer[_start++];
        }
    }
}
