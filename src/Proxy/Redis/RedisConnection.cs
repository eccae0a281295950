using System.Security.Cryptography.X509Certificates;
using CcxProxy.Channels;
using StackExchange.Redis;

namespace CcxProxy.Redis;

/// <summary>
/// The shared Redis connection, when <c>Redis:Configuration</c> is set. Redis-backed stores (keys,
/// limits, quotas) are built on it; with no configuration everything is held in memory.
/// It connects in the background from start-up and reconnects by itself: nothing ever waits on it
/// (readiness only reads its state). The connection string may hold a password: it is never logged.
/// </summary>
public sealed partial class RedisConnection : IDisposable
{
    private readonly Task<ConnectionMultiplexer?> _connecting;
    private readonly ILogger<RedisConnection> _logger;
    private readonly X509Certificate2Collection? _extraRoots;

    /// <summary>Starts connecting (in the background) when <paramref name="configuration"/> is not empty.</summary>
    /// <param name="configuration">A StackExchange.Redis configuration string (<c>Redis:Configuration</c>); <c>ssl=true</c> for TLS.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="caCertificateFile">
    /// A PEM file of CA certificates trusted for Redis's TLS certificate besides the system's (<c>Redis:CaCertificate</c>,
    /// e.g. a managed Redis's CA, or a company CA); null for the system's alone. Validation is never turned off.
    /// </param>
    /// <exception cref="InvalidOperationException">The CA file cannot be read or holds no certificate (a start-up error).</exception>
    public RedisConnection(string? configuration, ILogger<RedisConnection> logger, string? caCertificateFile = null)
    {
        _logger = logger;
        _extraRoots = string.IsNullOrWhiteSpace(caCertificateFile) ? null : LoadRoots(caCertificateFile);
        IsConfigured = !string.IsNullOrWhiteSpace(configuration);
        if (_extraRoots is not null && IsConfigured && !UsesTls(configuration!))
        {
            // A CA for a connection that would not use TLS at all: the operator meant TLS, and would get plain text.
            throw new InvalidOperationException("Redis:CaCertificate is set, but Redis:Configuration has no ssl=true: the connection would not use TLS");
        }

        _connecting = IsConfigured ? Task.Run(() => ConnectAsync(configuration!)) : Task.FromResult<ConnectionMultiplexer?>(null);
    }

    /// <summary>True when a Redis connection string was given.</summary>
    public bool IsConfigured { get; }

    /// <summary>True when configured and connected now. Never blocks.</summary>
    public bool IsConnected => _connecting.IsCompletedSuccessfully && _connecting.Result?.IsConnected == true;

    /// <summary>The multiplexer once the first connection attempt has finished; null when Redis is not configured or the configuration is unusable.</summary>
    public Task<ConnectionMultiplexer?> MultiplexerAsync => _connecting;

    private async Task<ConnectionMultiplexer?> ConnectAsync(string configuration)
    {
        try
        {
            var options = ConfigurationOptions.Parse(configuration);
            // Keep retrying in the background rather than failing when Redis is down at start-up.
            options.AbortOnConnectFail = false;
            // RESP2 unless the string says otherwise (protocol=resp3): the gateway uses nothing RESP3 adds (no
            // client-side caching, no push messages), its limit scripts reply with integers and arrays that read the
            // same in both, and RESP2 is what every Redis-compatible server and proxy speaks (twemproxy, Envoy's
            // Redis proxy and older managed tiers refuse HELLO 3).
            options.Protocol ??= RedisProtocol.Resp2;
            if (options.Ssl)
            {
                // Installed even without extra CAs, so that a refused certificate is logged with its reason.
                var roots = _extraRoots ?? [];
                options.CertificateValidation += (_, certificate, chain, errors) =>
                {
                    if (CertificateTrust.Validate(certificate, chain, errors, roots) is not { } refused)
                    {
                        return true;
                    }

                    Log.CertificateRefused(_logger, refused);
                    return false;
                };
            }

            return await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException)
        {
            Log.ConnectFailed(_logger, ex.GetType().Name);
            return null;
        }
    }

    private static bool UsesTls(string configuration)
    {
        try
        {
            return ConfigurationOptions.Parse(configuration).Ssl;
        }
        catch (ArgumentException)
        {
            // Reported (and logged) when the connection is attempted.
            return true;
        }
    }

    private static X509Certificate2Collection LoadRoots(string path)
    {
        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"Redis:CaCertificate: cannot read {path}: {ex.Message}", ex);
        }

        var roots = CertificateTrust.Load(pem);
        return roots.Count > 0 ? roots : throw new InvalidOperationException($"Redis:CaCertificate: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_connecting.IsCompletedSuccessfully)
        {
            _connecting.Result?.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(2, LogLevel.Error, "Redis's TLS certificate was refused: {Reason}; check Redis:CaCertificate and the host name in Redis:Configuration")]
        public static partial void CertificateRefused(ILogger logger, string reason);

        [LoggerMessage(1, LogLevel.Error, "Could not set up the Redis connection ({ExceptionType}); check Redis:Configuration")]
        public static partial void ConnectFailed(ILogger logger, string exceptionType);
    }
}
