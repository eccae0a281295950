using CcxProxy.Caching;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Usage;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 6, after the answer: the tokens spent, by key, group, channel and model, and the answer kept in the response
/// cache when its group caches. A failure to account never fails the (already answered) request.
/// </summary>
internal sealed partial class AccountStage(IUsageStore usage, ResponseCache cache, TimeProvider time, ILogger<AccountStage> logger) : IRequestStage
{
    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var error = await next(request).ConfigureAwait(false);
        if (error is not null || request.IsCountTokens)
        {
            return error;
        }

        var caller = request.Caller;
        if (request.AnsweredFromCache)
        {
            await RecordAsync(new UsageEntry(caller.KeyId, caller.Group, null, request.Model, new UsageTotals { Requests = 1, CachedRequests = 1 })).ConfigureAwait(false);
            return null;
        }

        if (request.Served is not { } served)
        {
            return null;
        }

        if (served.Result.Usage is { } spent)
        {
            await RecordAsync(new UsageEntry(caller.KeyId, caller.Group, served.Channel.Name, request.Model, new UsageTotals
            {
                Requests = 1,
                InputTokens = spent.InputTokens,
                OutputTokens = spent.OutputTokens,
                CacheReadTokens = spent.CacheReadInputTokens,
                CacheWriteTokens = spent.CacheCreationInputTokens,
            })).ConfigureAwait(false);
        }

        if (request.Cache is { Write: true } policy && served.Call.Capture?.Answer is { } stored)
        {
            // The key of what was sent to the channel that answered (the lookup's, when that was the first candidate).
            var key = request.CacheKey is not null && served.Channel == request.FirstChannel
                ? request.CacheKey
                : ResponseCache.Key(caller.Group, served.Call, request.Http.Request);
            await cache.StoreAsync(key, stored with { Body = SecretScrubber.Scrub(stored.Body, SecretScrubber.SecretsOf(served.Call)) }, policy.Config).ConfigureAwait(false);
        }

        return null;
    }

    private async Task RecordAsync(UsageEntry entry)
    {
        try
        {
            await usage.RecordAsync(entry, time.GetUtcNow(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5), time).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException or StackExchange.Redis.RedisException)
        {
            Log.UsageNotRecorded(logger, ex.GetType().Name);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(3, LogLevel.Warning, "Usage of a request could not be recorded ({ExceptionType})")]
        public static partial void UsageNotRecorded(ILogger logger, string exceptionType);
    }
}
