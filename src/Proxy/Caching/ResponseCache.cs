using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using CcxProxy.Channels;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Net.Http.Headers;

namespace CcxProxy.Caching;

/// <summary>Whether a request may be answered from the response cache, and whether its answer may be kept.</summary>
/// <param name="Config">The group's cache settings.</param>
/// <param name="Read">False when the caller said <c>Cache-Control: no-cache</c> or <c>no-store</c>: always ask the upstream.</param>
/// <param name="Write">False when the caller said <c>Cache-Control: no-store</c>: keep nothing of this answer.</param>
internal sealed record CachePolicy(ResponseCacheConfig Config, bool Read, bool Write);

/// <summary>A stored answer and when it was stored.</summary>
internal sealed record CachedEntry(StoredAnswer Answer, DateTimeOffset StoredAt);

/// <summary>
/// The exact-match response cache that groups turn on in <c>groups.json</c>: a complete, successful upstream answer
/// is kept under the caller's group and a hash of the request as it was sent upstream (after model mapping and
/// conversion), and the same request from the same group is answered from it until it expires. Behind
/// <see cref="HybridCache"/>: with Redis its second level is the Redis <c>IDistributedCache</c>, so every replica
/// shares the entries, and its local first level saves the round trip for answers this replica has seen. Without
/// Redis, HybridCache sees that the in-memory <c>IDistributedCache</c> would only duplicate its first level and keeps
/// entries there alone, for their whole TTL. The cache never fails a request: a lookup or store that fails or is slow
/// is a miss.
/// </summary>
internal sealed partial class ResponseCache
{
    /// <summary>Request header to ask for the cache (<c>use</c>) in an <c>on-request</c> group; response header saying what happened.</summary>
    public const string Header = "x-ccx-cache";

    private const string KeyPrefix = "response:";
    private static ReadOnlySpan<byte> Magic => "ccx1"u8;
    private const int EnvelopeBytes = 4 + 1 + 8;
    private static readonly TimeSpan s_lookupTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan s_storeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_maxLocal = TimeSpan.FromMinutes(5);

    private readonly HybridCache _cache;
    private readonly bool _shared;
    private readonly TimeProvider _time;
    private readonly ILogger<ResponseCache> _logger;

    /// <param name="cache">The hybrid cache over the gateway's <c>IDistributedCache</c>.</param>
    /// <param name="shared">True when the second level is Redis: the local first level then holds an entry for at most
    /// five minutes. False when the process's memory is the only level: it holds entries for their whole TTL.</param>
    /// <param name="time">The clock (for the answer's age).</param>
    /// <param name="logger">The logger.</param>
    public ResponseCache(HybridCache cache, bool shared, TimeProvider time, ILogger<ResponseCache> logger)
    {
        _cache = cache;
        _shared = shared;
        _time = time;
        _logger = logger;
    }

    /// <summary>The largest payload one entry may have: the largest answer a group may keep, and its envelope.</summary>
    public static int MaxPayloadBytes => ResponseCacheConfig.MaxEntryBytesLimit + EnvelopeBytes;

    /// <summary>
    /// The request's cache policy: null when its group keeps no cache, when the group's cache is <c>on-request</c> and
    /// the request did not ask for it with <c>x-ccx-cache: use</c>, or for an API that is not a model answer.
    /// </summary>
    public static CachePolicy? PolicyFor(HttpRequest request, GroupConfig? group)
    {
        if (group?.Cache is not { } config)
        {
            return null;
        }

        if (config.Mode == ResponseCacheMode.OnRequest
            && !request.Headers[Header].Any(value => string.Equals(value?.Trim(), "use", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var noCache = false;
        var noStore = false;
        if (CacheControlHeaderValue.TryParse(request.Headers.CacheControl.ToString(), out var cacheControl))
        {
            noCache = cacheControl.NoCache;
            noStore = cacheControl.NoStore;
        }

        return new CachePolicy(config, Read: !noCache && !noStore, Write: !noStore);
    }

    /// <summary>
    /// The entry's key: the group, then a SHA-256 of where the request goes and what the upstream is sent that can
    /// change its answer: the channel, the protocol, path and (when passed on) query, the answer-shaping headers the caller's request forwards
    /// (<see cref="HeaderPolicy.AnswerShapingRequestHeaders"/>), the channel's own headers, and the body in its
    /// canonical spelling (<see cref="CanonicalJson"/>). The channel's key is not part of it: it does not change
    /// the answer. Groups never share an entry.
    /// </summary>
    public static string Key(string group, UpstreamCall call, HttpRequest request)
    {
        var buffer = new ArrayBufferWriter<byte>(call.Body.Length + 512);
        Line(buffer, "ccx-response-cache/1");
        Line(buffer, "channel " + call.ChannelName);
        Line(buffer, call.UpstreamProtocol.ToString());
        Line(buffer, call.KeepQuery ? call.UpstreamPath + request.QueryString.Value : call.UpstreamPath);
        foreach (var name in HeaderPolicy.AnswerShapingRequestHeaders(call.UpstreamProtocol))
        {
            Line(buffer, name + ": " + request.Headers[name].ToString());
        }

        foreach (var (name, value) in call.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
        {
            Line(buffer, "channel " + name.ToLowerInvariant() + ": " + value);
        }

        if (!CanonicalJson.TryWrite(call.Body, buffer))
        {
            buffer.Write(call.Body.Span);
        }

        return KeyPrefix + group + ":" + Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    private static void Line(ArrayBufferWriter<byte> buffer, string text)
    {
        // Header values and paths hold no line break, so a line cannot pass for the next one.
        var written = Encoding.UTF8.GetBytes(text, buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length)));
        buffer.Advance(written);
        buffer.Write("\n"u8);
    }

    /// <summary>
    /// The stored answer under <paramref name="key"/>, or null on a miss, an entry older than the group's TTL now
    /// says (so a shortened TTL applies at once), an unreadable entry, or a cache that fails or is slow.
    /// </summary>
    public async Task<CachedEntry?> GetAsync(string key, ResponseCacheConfig config, CancellationToken cancellationToken)
    {
        byte[]? payload;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(s_lookupTimeout);
            // A lookup only: on a miss nothing is created (the answer is stored once it is complete). An entry read
            // from Redis is kept in the first level with these options: no longer than the group's TTL.
            var lookup = new HybridCacheEntryOptions
            {
                Expiration = config.Ttl,
                LocalCacheExpiration = LocalExpiration(config),
                Flags = HybridCacheEntryFlags.DisableUnderlyingData,
            };
            payload = await _cache.GetOrCreateAsync<byte[]?>(key, static _ => ValueTask.FromResult<byte[]?>(null),
                lookup, cancellationToken: timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return null;
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or StackExchange.Redis.RedisException or TimeoutException)
        {
            Log.LookupFailed(_logger, ex.GetType().Name);
            return null;
        }

        return Decode(payload) is { } entry && _time.GetUtcNow() - entry.StoredAt <= config.Ttl ? entry : null;
    }

    private TimeSpan LocalExpiration(ResponseCacheConfig config) => !_shared || config.Ttl < s_maxLocal ? config.Ttl : s_maxLocal;

    /// <summary>Keeps <paramref name="answer"/> under <paramref name="key"/> for the group's TTL; a failure is logged, never thrown.</summary>
    public async Task StoreAsync(string key, StoredAnswer answer, ResponseCacheConfig config)
    {
        if (answer.Body.Length > config.MaxEntryBytes)
        {
            return;
        }

        var payload = Encode(answer, _time.GetUtcNow());
        try
        {
            using var timeout = new CancellationTokenSource(s_storeTimeout);
            await _cache.SetAsync(key, payload, new HybridCacheEntryOptions { Expiration = config.Ttl, LocalCacheExpiration = LocalExpiration(config) },
                cancellationToken: timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or StackExchange.Redis.RedisException or TimeoutException)
        {
            Log.StoreFailed(_logger, ex.GetType().Name);
        }
    }

    // "ccx1", 'S' (stream) or 'J' (JSON), the time it was stored (Unix ms, big-endian), then the answer as the upstream sent it.
    private static byte[] Encode(StoredAnswer answer, DateTimeOffset storedAt)
    {
        var payload = new byte[EnvelopeBytes + answer.Body.Length];
        Magic.CopyTo(payload);
        payload[4] = answer.IsStream ? (byte)'S' : (byte)'J';
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(5), storedAt.ToUnixTimeMilliseconds());
        answer.Body.Span.CopyTo(payload.AsSpan(EnvelopeBytes));
        return payload;
    }

    private static CachedEntry? Decode(byte[]? payload)
    {
        if (payload is null || payload.Length <= EnvelopeBytes || !payload.AsSpan(0, 4).SequenceEqual(Magic) || payload[4] is not ((byte)'S' or (byte)'J'))
        {
            return null;
        }

        var storedAt = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(payload.AsSpan(5)));
        return new CachedEntry(new StoredAnswer(payload[4] == (byte)'S', payload.AsMemory(EnvelopeBytes)), storedAt);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Response cache lookup failed ({ExceptionType}); the request is forwarded")]
        public static partial void LookupFailed(ILogger logger, string exceptionType);

        [LoggerMessage(2, LogLevel.Warning, "Response cache could not store an answer ({ExceptionType})")]
        public static partial void StoreFailed(ILogger logger, string exceptionType);
    }
}
