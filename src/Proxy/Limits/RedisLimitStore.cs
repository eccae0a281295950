using CcxProxy.Keys;
using CcxProxy.Redis;
using StackExchange.Redis;

namespace CcxProxy.Limits;

/// <summary>
/// The limiter shared by every replica: one Lua script per operation (<see cref="LimitScripts"/>), time taken
/// from Redis. Keys are <c>ccx:{SCOPE}:rpm|itpm|otpm|conc|quota:*</c>, each scope under its own cluster hash tag,
/// every key with a TTL except a total quota. See README.md.
/// </summary>
/// <remarks>
/// On a single Redis (or Sentinel) all scopes of a request are decided in one atomic call. On Redis Cluster a
/// script may only touch one slot, so each scope is decided by its own call, in order, and when a later scope
/// refuses, the earlier ones are rolled back exactly (<see cref="LimitScripts.Rollback"/>): the outcome is the
/// all-or-nothing one, except that for the moment between the calls an earlier scope holds a reservation that
/// may turn another request away (never let one more in). Failures surface as <see cref="RedisException"/> or
/// <see cref="TimeoutException"/>; <see cref="FailOpenLimitStore"/> turns them into in-memory decisions.
/// </remarks>
internal sealed class RedisLimitStore : ILimitStore
{
    /// <summary>The prefix of every key this store writes.</summary>
    public const string KeyPrefix = "ccx:";

    private const int TopologyUnknown = 0;
    private const int TopologySingle = 1;
    private const int TopologyCluster = 2;

    /// <summary>The order in which refusals are reported (by kind first, then by scope), as in the scripts.</summary>
    private static readonly LimitKind[] RefusalOrder = [LimitKind.Quota, LimitKind.Concurrency, LimitKind.Requests, LimitKind.InputTokens, LimitKind.OutputTokens];

    private readonly RedisConnection _connection;
    private readonly long _leaseTtlMs;
    private readonly bool _forcePerScope;
    private int _topology;

    /// <summary>Creates the store over the shared connection.</summary>
    public RedisLimitStore(RedisConnection connection, LimitStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        options ??= new LimitStoreOptions();
        _leaseTtlMs = (long)Math.Ceiling(options.LeaseTtl.TotalMilliseconds);
        _forcePerScope = options.ForcePerScopeScripts;
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

        var estimate = Math.Max(0, estimatedInputTokens);
        var multiplexer = await MultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var database = multiplexer.GetDatabase();
        if (scopes.Count > 1 && IsPerScope(multiplexer))
        {
            return await AcquirePerScopeAsync(database, scopes, leaseId, estimate, cancellationToken).ConfigureAwait(false);
        }

        var result = await EvaluateAsync(LimitScripts.Acquire, database, scopes, AcquireValues(scopes, leaseId, estimate)).WaitAsync(cancellationToken).ConfigureAwait(false);
        var limit = (long)result[4];
        var remaining = (long)result[5];
        if ((long)result[0] == 1)
        {
            return limit < 0 ? LimitDecision.Admit : new LimitDecision { Admitted = true, Limit = limit, Remaining = remaining };
        }

        return Refusal(result, scopes[(int)(long)result[2] - 1]);
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

        var multiplexer = await MultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var database = multiplexer.GetDatabase();
        RedisValue[] Values(IReadOnlyList<LimitScope> of)
        {
            var values = new RedisValue[5 + (of.Count * LimitScripts.ArgsPerScope)];
            values[0] = leaseId;
            values[1] = Math.Max(0, estimatedInputTokens);
            values[2] = Math.Max(0, actualInputTokens);
            values[3] = Math.Max(0, actualOutputTokens);
            values[4] = of.Count;
            AddRules(of, values, 5);
            return values;
        }

        if (scopes.Count > 1 && IsPerScope(multiplexer))
        {
            // Nothing to undo here, so the scopes go in parallel; a scope whose release writes nothing is skipped.
            await Task.WhenAll(scopes.Where(s => s.Limits is { Concurrency: not null } or { InputTokensPerMinute: not null } or { OutputTokensPerMinute: not null } or { Quota: not null })
                .Select(s => LimitScripts.Release.EvaluateAsync(database, ScopeKeys([s]), Values([s])))).WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await LimitScripts.Release.EvaluateAsync(database, ScopeKeys(scopes), Values(scopes)).WaitAsync(cancellationToken).ConfigureAwait(false);
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

        var multiplexer = await MultiplexerAsync(cancellationToken).ConfigureAwait(false);
        var database = multiplexer.GetDatabase();
        Task<RedisResult> Renew(IReadOnlyList<LimitScope> of)
        {
            var keys = new RedisKey[of.Count];
            var values = new RedisValue[3 + of.Count];
            values[0] = leaseId;
            values[1] = _leaseTtlMs;
            values[2] = of.Count;
            for (var i = 0; i < of.Count; i++)
            {
                keys[i] = Key(of[i].Scope, "conc");
                values[3 + i] = Rule(of[i].Limits.Concurrency);
            }

            return LimitScripts.Renew.EvaluateAsync(database, keys, values);
        }

        if (scopes.Count > 1 && IsPerScope(multiplexer))
        {
            await Task.WhenAll(scopes.Where(s => s.Limits.Concurrency is not null).Select(s => Renew([s]))).WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        await Renew(scopes).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// True when each scope must have its own script call: forced by <see cref="LimitStoreOptions.ForcePerScopeScripts"/>,
    /// or the connected server is a Redis Cluster node. Learnt from the first connected server and kept; until
    /// one is connected, per scope (it is correct everywhere, only one round trip per scope slower).
    /// </summary>
    private bool IsPerScope(ConnectionMultiplexer multiplexer)
    {
        if (_forcePerScope)
        {
            return true;
        }

        switch (Volatile.Read(ref _topology))
        {
            case TopologySingle:
                return false;
            case TopologyCluster:
                return true;
        }

        foreach (var endpoint in multiplexer.GetEndPoints())
        {
            var server = multiplexer.GetServer(endpoint);
            if (server.IsConnected)
            {
                var cluster = server.ServerType == ServerType.Cluster;
                Volatile.Write(ref _topology, cluster ? TopologyCluster : TopologySingle);
                return cluster;
            }
        }

        return true;
    }

    /// <summary>
    /// The cluster-safe acquire: one call per scope, in order. When a scope refuses, the scopes admitted before it
    /// are rolled back and the refusal reported is the one the all-scopes script would report: a later scope is
    /// asked (<see cref="LimitScripts.Check"/>, which records nothing) only when it has a rule whose refusal comes
    /// first. Once a scope has recorded, the calls are followed through even if the caller gives up, so what was
    /// recorded is undone on a real answer rather than left behind.
    /// </summary>
    private async Task<LimitDecision> AcquirePerScopeAsync(IDatabase database, IReadOnlyList<LimitScope> scopes, string leaseId, long estimate, CancellationToken cancellationToken)
    {
        var admitted = new List<(LimitScope Scope, RedisResult[] Reply)>(scopes.Count);
        long bestLimit = -1;
        long bestLeft = -1;
        for (var i = 0; i < scopes.Count; i++)
        {
            var scope = scopes[i];
            if (!HasLimits(scope.Limits))
            {
                continue; // The script would admit it and write nothing.
            }

            RedisResult[] reply;
            try
            {
                var call = EvaluateAsync(LimitScripts.Acquire, database, [scope], AcquireValues([scope], leaseId, estimate));
                reply = await (admitted.Count == 0 ? call.WaitAsync(cancellationToken) : call).ConfigureAwait(false);
            }
            catch (Exception) when (admitted.Count > 0)
            {
                // Whether the failed call recorded is unknown (as for a single script that timed out); what the
                // earlier scopes recorded is certain, so undo it, and report the failure rather than an undo's.
                try
                {
                    await RollBackAsync(database, admitted, leaseId, estimate).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    // Their slots expire with their leases.
                }

                throw;
            }

            if ((long)reply[0] != 1)
            {
                await RollBackAsync(database, admitted, leaseId, estimate).ConfigureAwait(false);
                return await FirstRefusalAsync(database, scopes, i, reply, leaseId, estimate).ConfigureAwait(false);
            }

            admitted.Add((scope, reply));
            var limit = (long)reply[4];
            var left = (long)reply[5];
            if (limit >= 0 && (bestLeft < 0 || left < bestLeft))
            {
                (bestLimit, bestLeft) = (limit, left);
            }
        }

        return bestLimit < 0 ? LimitDecision.Admit : new LimitDecision { Admitted = true, Limit = bestLimit, Remaining = bestLeft };
    }

    /// <summary>Scope <paramref name="index"/> refused: asks the later scopes that could hold a refusal reported before it.</summary>
    private async Task<LimitDecision> FirstRefusalAsync(IDatabase database, IReadOnlyList<LimitScope> scopes, int index, RedisResult[] reply, string leaseId, long estimate)
    {
        var first = (Index: index, Reply: reply, Rank: Rank((LimitKind)(int)(long)reply[1]));
        for (var j = index + 1; j < scopes.Count && first.Rank > 0; j++)
        {
            var limits = scopes[j].Limits;
            if (!RefusalOrder.Take(first.Rank).Any(kind => HasRule(limits, kind)))
            {
                continue;
            }

            var check = await EvaluateAsync(LimitScripts.Check, database, [scopes[j]], AcquireValues([scopes[j]], leaseId, estimate)).ConfigureAwait(false);
            if ((long)check[0] != 1 && Rank((LimitKind)(int)(long)check[1]) < first.Rank)
            {
                first = (j, check, Rank((LimitKind)(int)(long)check[1]));
            }
        }

        return Refusal(first.Reply, scopes[first.Index]);
    }

    /// <summary>Undoes, in reverse order, exactly what the admitted scopes' acquire calls recorded.</summary>
    private static async Task RollBackAsync(IDatabase database, List<(LimitScope Scope, RedisResult[] Reply)> admitted, string leaseId, long estimate)
    {
        for (var i = admitted.Count - 1; i >= 0; i--)
        {
            var (scope, reply) = admitted[i];
            var values = new RedisValue[4 + LimitScripts.ArgsPerScope];
            values[0] = leaseId;
            values[1] = estimate;
            values[2] = (string?)reply[6]; // the acquire's Redis time, for the quota period it reserved in
            values[3] = (string?)reply[7]; // the lease's expiry before the acquire
            AddRules([scope], values, 4);
            await LimitScripts.Rollback.EvaluateAsync(database, ScopeKeys([scope]), values).ConfigureAwait(false);
        }
    }

    private async Task<ConnectionMultiplexer> MultiplexerAsync(CancellationToken cancellationToken) =>
        await _connection.MultiplexerAsync.WaitAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new RedisUnavailableException("Redis is not configured or its configuration is unusable.");

    private static async Task<RedisResult[]> EvaluateAsync(RedisScript script, IDatabase database, IReadOnlyList<LimitScope> scopes, RedisValue[] values) =>
        (RedisResult[])(await script.EvaluateAsync(database, ScopeKeys(scopes), values).ConfigureAwait(false))!;

    private RedisValue[] AcquireValues(IReadOnlyList<LimitScope> scopes, string leaseId, long estimate)
    {
        var values = new RedisValue[4 + (scopes.Count * LimitScripts.ArgsPerScope)];
        values[0] = leaseId;
        values[1] = estimate;
        values[2] = _leaseTtlMs;
        values[3] = scopes.Count;
        AddRules(scopes, values, 4);
        return values;
    }

    private static LimitDecision Refusal(RedisResult[] result, LimitScope scope)
    {
        var retryAfter = (long)result[3];
        return new LimitDecision
        {
            Admitted = false,
            Violated = (LimitKind)(int)(long)result[1],
            Scope = scope.Scope,
            RetryAfter = retryAfter < 0 ? null : TimeSpan.FromMilliseconds(retryAfter),
            Limit = (long)result[4],
            Remaining = (long)result[5],
        };
    }

    private static int Rank(LimitKind kind) => Array.IndexOf(RefusalOrder, kind);

    private static bool HasRule(CallerLimits limits, LimitKind kind) => kind switch
    {
        LimitKind.Quota => limits.Quota is not null,
        LimitKind.Concurrency => limits.Concurrency is not null,
        LimitKind.Requests => limits.RequestsPerMinute is not null,
        LimitKind.InputTokens => limits.InputTokensPerMinute is not null,
        LimitKind.OutputTokens => limits.OutputTokensPerMinute is not null,
        _ => false,
    };

    private static bool HasLimits(CallerLimits limits) => RefusalOrder.Any(kind => HasRule(limits, kind));

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
