using System.Globalization;
using CcxProxy.Access;
using CcxProxy.Channels;
using CcxProxy.Errors;
using CcxProxy.Keys;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Limits;

/// <summary>
/// Applies the limiter to one request: the key's limits and its group's (from groups.json) as two scopes
/// decided at once; a refusal answered with 429 (402 for a spent quota), <c>retry-after</c> and rate-limit
/// headers in the caller's protocol style; and, when the request ends, the reservation corrected by the
/// real token usage. Requests whose key and group have no limits never reach the store.
/// </summary>
internal sealed class RequestLimiter
{
    private static readonly TimeSpan s_renewEvery = TimeSpan.FromSeconds(20);

    private readonly ILimitStore _store;
    private readonly TimeProvider _time;

    public RequestLimiter(ILimitStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
    }

    /// <summary>The scopes that limit this caller (none when neither the key nor the group has limits).</summary>
    public static IReadOnlyList<LimitScope> ScopesFor(Caller caller, GroupConfig? group)
    {
        var scopes = new List<LimitScope>(2);
        if (!caller.Limits.IsEmpty)
        {
            scopes.Add(new LimitScope("key:" + caller.KeyId, caller.Limits));
        }

        if (group is not null && ToCallerLimits(group.Limits) is { IsEmpty: false } groupLimits)
        {
            scopes.Add(new LimitScope("group:" + group.Name, groupLimits));
        }

        return scopes;
    }

    /// <summary>
    /// Asks the store: on admission, a lease to release (and the rate-limit headers set on the response); on
    /// refusal, the error to answer with (429, 402 for a spent quota, 503 when the store cannot be asked).
    /// </summary>
    public async Task<GatewayResult<Lease>> AcquireAsync(HttpContext context, IReadOnlyList<LimitScope> scopes, long estimatedInputTokens)
    {
        var leaseId = RequestIds.Get(context) ?? Guid.NewGuid().ToString("N");
        var decision = await _store.AcquireAsync(scopes, leaseId, estimatedInputTokens, context.RequestAborted).ConfigureAwait(false);
        var headers = Headers(context.Request, decision);
        if (decision.Admitted)
        {
            foreach (var (name, value) in headers)
            {
                GatewayHeaders.Set(context, name, value);
            }

            return new Lease(this, scopes, leaseId, estimatedInputTokens);
        }

        if (decision.IsUnavailable)
        {
            return new GatewayError(StatusCodes.Status503ServiceUnavailable,
                "limits cannot be checked right now (the shared store is unreachable) and this gateway fails closed; try again shortly")
            {
                RetryAfter = TimeSpan.FromSeconds(1),
            };
        }

        var quota = decision.Violated == LimitKind.Quota;
        return new GatewayError(quota ? StatusCodes.Status402PaymentRequired : StatusCodes.Status429TooManyRequests, Describe(decision))
        {
            Code = quota ? "insufficient_quota" : "rate_limit_exceeded",
            RetryAfter = decision.RetryAfter,
            Headers = headers,
        };
    }

    private static string Describe(LimitDecision decision)
    {
        var what = decision.Violated switch
        {
            LimitKind.Requests => "requests per minute",
            LimitKind.InputTokens => "input tokens per minute",
            LimitKind.OutputTokens => "output tokens per minute",
            LimitKind.Concurrency => "requests in flight",
            _ => "token quota",
        };
        var retry = decision.RetryAfter is { } wait ? $"; retry after {Math.Max(1, Math.Ceiling(wait.TotalSeconds))} s" : "";
        return decision.Violated == LimitKind.Quota
            ? $"token quota exhausted for {decision.Scope} (limit {decision.Limit}){retry}"
            : $"rate limit exceeded for {decision.Scope}: {what} (limit {decision.Limit}){retry}";
    }

    /// <summary>Rate-limit headers, named the way the caller's SDK knows them (docs/protocols.md §6).</summary>
    private List<KeyValuePair<string, string>> Headers(HttpRequest request, LimitDecision decision)
    {
        var headers = new List<KeyValuePair<string, string>>(3);
        if (decision.Limit is not { } limit)
        {
            return headers;
        }

        var kind = decision.Violated ?? LimitKind.Requests;
        var remaining = Math.Max(0, decision.Remaining ?? 0);
        var reset = decision.RetryAfter ?? TimeSpan.Zero;
        if (ClientProtocols.Of(request) != WireProtocol.Anthropic)
        {
            var name = kind is LimitKind.InputTokens or LimitKind.OutputTokens ? "tokens" : "requests";
            headers.Add(new($"x-ratelimit-limit-{name}", limit.ToString(CultureInfo.InvariantCulture)));
            headers.Add(new($"x-ratelimit-remaining-{name}", remaining.ToString(CultureInfo.InvariantCulture)));
            headers.Add(new($"x-ratelimit-reset-{name}", $"{Math.Max(0, Math.Ceiling(reset.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}s"));
        }
        else
        {
            var name = kind switch
            {
                LimitKind.InputTokens => "input-tokens",
                LimitKind.OutputTokens => "output-tokens",
                _ => "requests",
            };
            headers.Add(new($"anthropic-ratelimit-{name}-limit", limit.ToString(CultureInfo.InvariantCulture)));
            headers.Add(new($"anthropic-ratelimit-{name}-remaining", remaining.ToString(CultureInfo.InvariantCulture)));
            headers.Add(new($"anthropic-ratelimit-{name}-reset", (_time.GetUtcNow() + reset).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)));
        }

        return headers;
    }

    private static CallerLimits ToCallerLimits(GroupLimits limits) => new()
    {
        RequestsPerMinute = limits.RequestsPerMinute,
        InputTokensPerMinute = limits.InputTokensPerMinute,
        OutputTokensPerMinute = limits.OutputTokensPerMinute,
        Concurrency = limits.Concurrency,
        Quota = limits.QuotaTokens is { } tokens
            ? new TokenQuota(tokens, limits.QuotaPeriod switch { "day" => QuotaPeriod.Day, "month" => QuotaPeriod.Month, _ => QuotaPeriod.Total })
            : null,
    };

    /// <summary>An admitted request's hold on its limits: renewed while it runs, released with its real usage.</summary>
    internal sealed class Lease : IAsyncDisposable
    {
        private readonly RequestLimiter _owner;
        private readonly IReadOnlyList<LimitScope> _scopes;
        private readonly string _id;
        private readonly long _estimate;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _renewal;

        public Lease(RequestLimiter owner, IReadOnlyList<LimitScope> scopes, string id, long estimate)
        {
            _owner = owner;
            _scopes = scopes;
            _id = id;
            _estimate = estimate;
            _renewal = RenewAsync();
        }

        /// <summary>The real usage, when known; unknown (a failure) releases the reservation.</summary>
        public StreamUsage? Usage { get; set; }

        private async Task RenewAsync()
        {
            using var timer = new PeriodicTimer(s_renewEvery, _owner._time);
            try
            {
                while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                {
                    await _owner._store.RenewAsync(_scopes, _id, _stop.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Released.
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _renewal.ConfigureAwait(false);
            _stop.Dispose();
            var usage = Usage;
            var input = usage is null ? 0 : usage.InputTokens + usage.CacheReadInputTokens + usage.CacheCreationInputTokens;
            var output = usage?.OutputTokens ?? 0;
            await _owner._store.ReleaseAsync(_scopes, _id, _estimate, input, output, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
