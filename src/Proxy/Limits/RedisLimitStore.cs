using CcxProxy.Keys;
using CcxProxy.Redis;
using StackExchange.Redis;

namespace CcxProxy.Limits;

/// <summary>
/// The limiter shared by every replica: one Lua script per operation (<see cref="LimitScripts"/>), all scopes of
/// a request decided in one atomic call, time taken from Redis. Keys are <c>ccx:{SCOPE}:rpm|itpm|otpm|conc|quota:*</c>,
/// each scope under its own cluster hash tag, every key with a TTL except a total quota. See README.md.
/// </summary>
/// <remarks>
/// Not for Redis Cluster yet when a request has scopes in two hash tags (a key and its group): the script would
/// touch two slots (CROSSSLOT). Failures surface as <see cref="RedisException"/> or <see cref="TimeoutException"/>;
/// <see cref="FailOpenLimitStore"/> turns them into in-memory decisions.
/// </remarks>
internal sealed class RedisLimitStore : ILimitStore
{
    /// <summary>The prefix of every key this store writes.</summary>
    public const string KeyPrefix = "ccx:";

    private readonly RedisConnection _connection;
    private readonly long _leaseTtlMs;

    /// <summary>Creates the store over the shared connection.</summary>
    public RedisLimitStore(RedisConnection connection, LimitStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        _leaseTtlMs = (long)Math.Ceiling((options ?? new LimitStoreOptions()).LeaseTtl.TotalMilliseconds);
    }

    /// <summary>The storage key of one of a scope's counters: <c>ccx:{SCOPE}:NAME</c>.</summary>
    public static string Key(string scope, string name) => $"{KeyPrefix}{{{scope}}}:{name}";

    /// <inheritdoc />
    public async Task<LimitDecision> AcquireAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        if (scopes.Count == 0)
        {
            return LimitDecision.Admit;
        }

        var values = new RedisValue[4 + (scopes.Count * LimitScripts.ArgsPerScope)];
        values[0] = leaseId;
        values[1] = Math.Max(0, estimatedInputTokens);
        values[2] = _leaseTtlMs;
        values[3] = scopes.Count;
        AddRules(scopes, values, 4);

        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        var result = (RedisResult[])(await LimitScripts.Acquire.EvaluateAsync(database, ScopeKeys(scopes), values).WaitAsync(cancellationToken).ConfigureAwait(false))!;
        var limit = (long)result[4];
        var remaining = (long)result[5];
        if ((long)result[0] == 1)
        {
            return limit < 0 ? LimitDecision.Admit : new LimitDecision { Admitted = true, Limit = limit, Remaining = remaining };
        }

        var retryAfter = (long)result[3];
        return new LimitDecision
        {
            Admitted = false,
            Violated = (LimitKind)(int)(long)result[1],
            Scope = scopes[(int)(long)result[2] - 1].Scope,
            RetryAfter = retryAfter < 0 ? null : TimeSpan.FromMilliseconds(retryAfter),
            Limit = limit,
            Remaining = remaining,
        };
    }

    /// <inheritdoc />
    public async Task ReleaseAsync(IReadOnlyList<LimitScope> scopes, string leaseId, long estimatedInputTokens, long actualInputTokens, long actualOutputTokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        if (scopes.Count == 0)
        {
            return;
        }

        var values = new RedisValue[5 + (scopes.Count * LimitScripts.ArgsPerScope)];
        values[0] = leaseId;
        values[1] = Math.Max(0, estimatedInputTokens);
        values[2] = Math.Max(0, actualInputTokens);
        values[3] = Math.Max(0, actualOutputTokens);
        values[4] = scopes.Count;
        AddRules(scopes, values, 5);

        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await LimitScripts.Release.EvaluateAsync(database, ScopeKeys(scopes), values).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task RenewAsync(IReadOnlyList<LimitScope> scopes, string leaseId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        ArgumentNullException.ThrowIfNull(leaseId);
        if (!scopes.Any(s => s.Limits.Concurrency is not null))
        {
            return;
        }

        var keys = new RedisKey[scopes.Count];
        var values = new RedisValue[3 + scopes.Count];
        values[0] = leaseId;
        values[1] = _leaseTtlMs;
        values[2] = scopes.Count;
        for (var i = 0; i < scopes.Count; i++)
        {
            keys[i] = Key(scopes[i].Scope, "conc");
            values[3 + i] = Rule(scopes[i].Limits.Concurrency);
        }

        var database = await DatabaseAsync(cancellationToken).ConfigureAwait(false);
        await LimitScripts.Renew.EvaluateAsync(database, keys, values).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<IDatabase> DatabaseAsync(CancellationToken cancellationToken)
    {
        var multiplexer = await _connection.MultiplexerAsync.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new RedisUnavailableException("Redis is not configured or its configuration is unusable.");
        return multiplexer.GetDatabase();
    }

    private static RedisKey[] ScopeKeys(IReadOnlyList<LimitScope> scopes)
    {
        var keys = new RedisKey[scopes.Count * LimitScripts.KeysPerScope];
        for (var i = 0; i < scopes.Count; i++)
        {
            var scope = scopes[i].Scope;
            var at = i * LimitScripts.KeysPerScope;
            keys[at] = Key(scope, "rpm");
            keys[at + 1] = Key(scope, "itpm");
            keys[at + 2] = Key(scope, "otpm");
            keys[at + 3] = Key(scope, "conc");
            keys[at + 4] = Key(scope, "quota");
        }

        return keys;
    }

    private static long Rule(long? limit) => limit is { } value ? Math.Max(0, value) : -1;

    private static void AddRules(IReadOnlyList<LimitScope> scopes, RedisValue[] values, int offset)
    {
        for (var i = 0; i < scopes.Count; i++)
        {
            var limits = scopes[i].Limits;
            var at = offset + (i * LimitScripts.ArgsPerScope);
            // -1 means "not limited" to the script, so a negative limit is sent as 0 (refuse all), as in memory.
            values[at] = Rule(limits.RequestsPerMinute);
            values[at + 1] = Rule(limits.InputTokensPerMinute);
            values[at + 2] = Rule(limits.OutputTokensPerMinute);
            values[at + 3] = Rule(limits.Concurrency);
            values[at + 4] = Rule(limits.Quota?.Tokens);
            values[at + 5] = limits.Quota?.Period switch
            {
                null => 0,
                QuotaPeriod.Total => 1,
                QuotaPeriod.Day => 2,
                QuotaPeriod.Month => 3,
                _ => 0,
            };
        }
    }
}
