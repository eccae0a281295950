using System.Globalization;
using CcxProxy.Limits;
using CcxProxy.Redis;
using CcxProxy.Transforms.Vocabulary;
using StackExchange.Redis;

namespace CcxProxy.Routing;

/// <summary>
/// Cooldowns in one Redis sorted set (<c>ccx:{cooldowns}</c>): member = target and reason, score = when it
/// ends in Redis time (ms). Both scripts read Redis <c>TIME</c>, so replicas with skewed clocks agree; ended
/// entries are pruned on every write and the set expires with its longest entry.
/// </summary>
public sealed class RedisCooldownStore(RedisConnection connection) : ICooldownStore
{
    /// <summary>The sorted set's key.</summary>
    public const string Key = "ccx:{cooldowns}";

    private const string Clock = """
        redis.replicate_commands()
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

        """;

    // KEYS[1] the set; ARGV[1] member; ARGV[2] duration (ms). Keeps the later end of the two.
    private static readonly RedisScript s_publish = new("cooldown-publish", Clock + """
        local ends = now + tonumber(ARGV[2])
        local current = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if not current or tonumber(current) < ends then
          redis.call('ZADD', KEYS[1], ends, ARGV[1])
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
        if last[2] then redis.call('PEXPIREAT', KEYS[1], last[2]) end
        return 1
        """);

    // KEYS[1] the set. Returns { now, member1, ends1, member2, ends2, ... } for the entries still running.
    private static readonly RedisScript s_read = new("cooldown-read", """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local items = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
        table.insert(items, 1, tostring(now))
        return items
        """);

    /// <inheritdoc />
    public async Task PublishAsync(CooldownEntry cooldown, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cooldown);
        var database = await DatabaseAsync().ConfigureAwait(false);
        var milliseconds = Math.Max(1, (long)Math.Ceiling(cooldown.Remaining.TotalMilliseconds));
        await s_publish.EvaluateAsync(database, [Key], [Member(cooldown), milliseconds]).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<CooldownEntry>> ReadAsync(CancellationToken cancellationToken)
    {
        var database = await DatabaseAsync().ConfigureAwait(false);
        var items = (RedisResult[])(await s_read.EvaluateAsync(database, [Key], []).ConfigureAwait(false))!;
        var now = double.Parse((string)items[0]!, CultureInfo.InvariantCulture);
        var running = new List<CooldownEntry>((items.Length - 1) / 2);
        for (var i = 1; i + 1 < items.Length; i += 2)
        {
            var ends = double.Parse((string)items[i + 1]!, CultureInfo.InvariantCulture);
            if (Parse((string)items[i]!, TimeSpan.FromMilliseconds(ends - now)) is { } entry)
            {
                running.Add(entry);
            }
        }

        return running;
    }

    private static string Member(CooldownEntry cooldown) =>
        string.Join('\n', cooldown.Channel, cooldown.KeyFingerprint ?? "", cooldown.Reason.ToString());

    /// <summary>Reads a member back; null for one this version cannot read (written by a newer one).</summary>
    private static CooldownEntry? Parse(string member, TimeSpan remaining)
    {
        var parts = member.Split('\n');
        return parts.Length == 3 && Enum.TryParse<FailureKind>(parts[2], out var reason) && parts[0].Length > 0
            ? new CooldownEntry(parts[0], parts[1].Length == 0 ? null : parts[1], reason, remaining)
            : null;
    }

    private async Task<IDatabase> DatabaseAsync() =>
        (await connection.MultiplexerAsync.ConfigureAwait(false))?.GetDatabase()
        ?? throw new RedisUnavailableException("Redis is not available for shared cooldowns");
}
