namespace CcxProxy.Limits;

/// <summary>
/// The Lua scripts of <see cref="RedisLimitStore"/>: one per operation, each deciding the scopes it is given
/// atomically (every scope of a request at once, or one scope per call on Redis Cluster, where
/// <see cref="Check"/> and <see cref="Rollback"/> complete the all-or-nothing), with time from Redis (<c>TIME</c>)
/// so replicas agree. They mirror <see cref="InMemoryLimitStore"/>
/// and <see cref="LimitMath"/> exactly; change both together (the contract tests run against both).
/// </summary>
/// <remarks>
/// Per scope i (1-based) the KEYS are, from <c>(i-1)*5+1</c>: rpm, itpm, otpm, conc, quota base (the script
/// appends the period: <c>:total</c>, <c>:YYYY-MM-DD</c> of the day or month start, so the dated key is derived
/// from Redis time and keeps the scope's hash tag). Per scope the ARGV are 6 numbers, -1 for "not limited":
/// rpm, itpm, otpm, concurrency, quota tokens, quota period (0 none, 1 total, 2 day, 3 month).
/// Kinds in replies are <see cref="LimitKind"/> values. Stored values are numbers and lease ids only.
/// </remarks>
internal static class LimitScripts
{
    /// <summary>KEYS per scope.</summary>
    public const int KeysPerScope = 5;

    /// <summary>ARGV per scope.</summary>
    public const int ArgsPerScope = 6;

    /// <summary>Time from Redis, so every replica agrees; <c>replicate_commands</c> lets Redis &lt; 5 write after <c>TIME</c>.</summary>
    private const string Clock = """
        redis.replicate_commands()
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000

        """;

    /// <summary>The helpers every script shares; they read a local <c>now</c> (ms) defined before them.</summary>
    internal const string Helpers = """
        local W = 60000
        local EPS = 0.01
        local GRACE = 120000

        local function ceilms(ms) return math.max(1, math.ceil(ms - EPS)) end
        local function remaining(tat, interval)
          return math.max(0, math.floor((W - (math.max(tat, now) - now)) / interval + 1e-6))
        end
        local function tat_of(key)
          local v = redis.call('GET', key)
          if v then return math.max(tonumber(v), now) end
          return now
        end
        local function set_tat(key, tat)
          if tat <= now then
            redis.call('DEL', key)
          else
            redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now + GRACE))
          end
        end

        -- Proleptic Gregorian calendar from days since 1970-01-01 and back (H. Hinnant's algorithms).
        local function civil(days)
          local z = days + 719468
          local era = math.floor(z / 146097)
          local doe = z - era * 146097
          local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
          local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
          local mp = math.floor((5 * doy + 2) / 153)
          local d = doy - math.floor((153 * mp + 2) / 5) + 1
          local m = mp < 10 and mp + 3 or mp - 9
          local y = yoe + era * 400
          if m <= 2 then y = y + 1 end
          return y, m, d
        end
        local function days_from_civil(y, m, d)
          if m <= 2 then y = y - 1 end
          local era = math.floor(y / 400)
          local yoe = y - era * 400
          local mp = m > 2 and m - 3 or m + 9
          local doy = math.floor((153 * mp + 2) / 5) + d - 1
          local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
          return era * 146097 + doe - 719468
        end
        -- The quota key suffix of the period containing now, and the period's end (ms), nil for a total.
        local function period(code)
          if code == 1 then return 'total', nil end
          local days = math.floor(now / 86400000)
          local y, m, d = civil(days)
          if code == 2 then return string.format('%04d-%02d-%02d', y, m, d), (days + 1) * 86400000 end
          local ny, nm = y, m + 1
          if nm == 13 then ny, nm = y + 1, 1 end
          return string.format('%04d-%02d-01', y, m), days_from_civil(ny, nm, 1) * 86400000
        end
        local function quota_key(base, code)
          local suffix, e = period(code)
          return base .. ':' .. suffix, e
        end
        local function quota_ttl(key, e)
          if e then redis.call('PEXPIREAT', key, math.floor(e + 86400000)) end
        end

        """;

    /// <summary>The arguments and the checks of <see cref="Acquire"/>, shared with <see cref="Check"/>.</summary>
    private const string AcquireChecks = """
        local lease = ARGV[1]
        local est = tonumber(ARGV[2])
        local ttl = tonumber(ARGV[3])
        local n = tonumber(ARGV[4])
        local function arg(i, j) return tonumber(ARGV[4 + (i - 1) * 6 + j]) end
        local function key(i, j) return KEYS[(i - 1) * 5 + j] end
        -- Kinds (LimitKind): 0 requests, 1 input tokens, 2 output tokens, 3 concurrency, 4 quota.

        -- Check every rule first, in the order quota, concurrency, requests, input, output; record nothing on refusal.
        for i = 1, n do
          local tokens, code = arg(i, 5), arg(i, 6)
          if code > 0 then
            local k, e = quota_key(key(i, 5), code)
            local used = tonumber(redis.call('GET', k) or '0')
            if used >= tokens then
              local retry = -1
              if e then retry = ceilms(e - now) end
              return {0, 4, i, retry, tokens, 0}
            end
          end
        end
        local owns = {}
        for i = 1, n do
          local c = arg(i, 4)
          if c >= 0 then
            local k = key(i, 4)
            local own = redis.call('ZSCORE', k, lease)
            owns[i] = own
            if not (own and tonumber(own) > now) then
              local live = redis.call('ZCOUNT', k, string.format('(%.3f', now), '+inf')
              if live >= c then return {0, 3, i, 1000, c, 0} end
            end
          end
        end
        local function check_rate(kind, i, limit, cost)
          if limit <= 0 then return {0, kind, i, W, limit, 0} end
          local interval = W / limit
          local tat = tat_of(key(i, kind + 1))
          local nxt = tat + cost * interval
          if nxt - now > W + EPS then
            return {0, kind, i, ceilms(nxt - W - now), limit, remaining(tat, interval)}
          end
          return nil
        end
        for i = 1, n do
          local r = arg(i, 1)
          if r >= 0 then
            local refused = check_rate(0, i, r, 1)
            if refused then return refused end
          end
        end
        for i = 1, n do
          local l = arg(i, 2)
          if l >= 0 then
            if est > l then
              local left = 0
              if l > 0 then left = remaining(tat_of(key(i, 2)), W / l) end
              return {0, 1, i, W, l, left}
            end
            local refused = check_rate(1, i, l, est)
            if refused then return refused end
          end
        end
        for i = 1, n do
          local o = arg(i, 3)
          if o >= 0 then
            local refused = check_rate(2, i, o, 0)
            if refused then return refused end
          end
        end

        """;

    /// <summary>
    /// ARGV: lease id, estimated input tokens, lease TTL (ms), scope count, then the scopes' rules.
    /// Returns {admitted, kind, scope index, retry-after ms (-1: none), limit (-1: none), remaining}; when admitted,
    /// followed by the Redis time of the decision (ms) and, per scope, the lease's expiry before this call ('-1':
    /// none or no concurrency limit), which <see cref="Rollback"/> needs to undo exactly this reservation.
    /// </summary>
    public static readonly RedisScript Acquire = new("acquire", Clock + Helpers + AcquireChecks + """
        -- Admitted: record everything.
        local reply = {1, -1, -1, -1, -1, -1, string.format('%.3f', now)}
        local best_limit, best_left = -1, -1
        for i = 1, n do
          local code = arg(i, 6)
          if code > 0 and est > 0 then
            local k, e = quota_key(key(i, 5), code)
            redis.call('INCRBY', k, est)
            quota_ttl(k, e)
          end
          if arg(i, 4) >= 0 then
            local k = key(i, 4)
            redis.call('ZADD', k, string.format('%.3f', now + ttl), lease)
            redis.call('ZREMRANGEBYSCORE', k, '-inf', string.format('%.3f', now))
            redis.call('PEXPIRE', k, math.ceil(ttl))
          end
          local r = arg(i, 1)
          if r >= 0 then
            local interval = W / r
            local tat = tat_of(key(i, 1)) + interval
            set_tat(key(i, 1), tat)
            local left = remaining(tat, interval)
            if best_left < 0 or left < best_left then best_limit, best_left = r, left end
          end
          local l = arg(i, 2)
          if l >= 0 and est > 0 then
            set_tat(key(i, 2), tat_of(key(i, 2)) + est * (W / l))
          end
          reply[7 + i] = owns[i] or '-1'
        end
        reply[5], reply[6] = best_limit, best_left
        return reply
        """);

    /// <summary>
    /// The checks of <see cref="Acquire"/> without recording anything (same ARGV and reply, without the tail).
    /// The per-scope path asks it of the later scopes once an earlier one refused, to report the refusal the
    /// all-scopes script would have reported (by kind first, then by scope).
    /// </summary>
    public static readonly RedisScript Check = new("check", Clock + Helpers + AcquireChecks + """
        return {1, -1, -1, -1, -1, -1}
        """);

    /// <summary>
    /// Undoes exactly what <see cref="Acquire"/> recorded for one scope, when a later scope refused (the per-scope
    /// path, for Redis Cluster). KEYS: the scope's 5 keys. ARGV: lease id, estimated input tokens, the acquire's
    /// Redis time (ms), the lease's expiry before the acquire ('-1': none), then the scope's 6 rules.
    /// Moves the request TAT back by one emission interval and the input TAT by the estimate (never below now),
    /// restores the lease as it was (removed, or its earlier expiry when the same lease id held it already) and
    /// returns the quota reservation to the period of the acquire. Returns 1.
    /// </summary>
    public static readonly RedisScript Rollback = new("rollback", Clock + Helpers + """
        local lease = ARGV[1]
        local est = tonumber(ARGV[2])
        local at = tonumber(ARGV[3])
        local prior = tonumber(ARGV[4])
        local function arg(j) return tonumber(ARGV[4 + j]) end
        local r = arg(1)
        if r > 0 then
          set_tat(KEYS[1], math.max(tat_of(KEYS[1]) - W / r, now))
        end
        local l = arg(2)
        if l > 0 and est > 0 then
          set_tat(KEYS[2], math.max(tat_of(KEYS[2]) - est * (W / l), now))
        end
        if arg(4) >= 0 then
          local k = KEYS[4]
          if prior > now then
            redis.call('ZADD', k, string.format('%.3f', prior), lease)
          else
            redis.call('ZREM', k, lease)
            if redis.call('ZCARD', k) == 0 then redis.call('DEL', k) end
          end
        end
        local code = arg(6)
        if code > 0 and est > 0 then
          -- The period of the acquire (they differ only across a UTC midnight): the helpers read 'now'.
          local current = now
          now = at
          local k = quota_key(KEYS[5], code)
          now = current
          if redis.call('EXISTS', k) == 1 then
            local used = redis.call('DECRBY', k, est)
            if used < 0 then redis.call('INCRBY', k, -used) end
          end
        end
        return 1
        """);

    /// <summary>
    /// ARGV: lease id, estimated input tokens, actual input tokens, actual output tokens, scope count, then the
    /// scopes' rules. Frees the lease and corrects the token counters and quotas. Returns 1.
    /// </summary>
    public static readonly RedisScript Release = new("release", Clock + Helpers + """
        local lease = ARGV[1]
        local delta = tonumber(ARGV[3]) - tonumber(ARGV[2])
        local out = tonumber(ARGV[4])
        local n = tonumber(ARGV[5])
        local function arg(i, j) return tonumber(ARGV[5 + (i - 1) * 6 + j]) end
        local function key(i, j) return KEYS[(i - 1) * 5 + j] end
        for i = 1, n do
          if arg(i, 4) >= 0 then
            local k = key(i, 4)
            redis.call('ZREM', k, lease)
            if redis.call('ZCARD', k) == 0 then redis.call('DEL', k) end
          end
          local l = arg(i, 2)
          if l > 0 and delta ~= 0 then
            set_tat(key(i, 2), math.max(tat_of(key(i, 2)) + delta * (W / l), now))
          end
          local o = arg(i, 3)
          if o > 0 and out > 0 then
            set_tat(key(i, 3), tat_of(key(i, 3)) + out * (W / o))
          end
          local code = arg(i, 6)
          if code > 0 and delta + out ~= 0 then
            local k, e = quota_key(key(i, 5), code)
            local used = redis.call('INCRBY', k, delta + out)
            if used < 0 then redis.call('INCRBY', k, -used) end
            quota_ttl(k, e)
          end
        end
        return 1
        """);

    /// <summary>
    /// KEYS: the concurrency key of each scope. ARGV: lease id, lease TTL (ms), scope count, then each scope's
    /// concurrency limit (-1: none). Extends a live lease only (an expired slot may have been taken). Returns 1.
    /// </summary>
    public static readonly RedisScript Renew = new("renew", Clock + Helpers + """
        local lease = ARGV[1]
        local ttl = tonumber(ARGV[2])
        local n = tonumber(ARGV[3])
        for i = 1, n do
          if tonumber(ARGV[3 + i]) >= 0 then
            local k = KEYS[i]
            local own = redis.call('ZSCORE', k, lease)
            if own and tonumber(own) > now then
              redis.call('ZADD', k, string.format('%.3f', now + ttl), lease)
              redis.call('PEXPIRE', k, math.ceil(ttl))
            end
          end
        end
        return 1
        """);
}
