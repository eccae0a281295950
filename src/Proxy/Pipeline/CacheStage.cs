using System.Globalization;
using CcxProxy.Caching;
using CcxProxy.Errors;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>
/// Answers from the response cache when the caller's group caches and the same request was answered before: looked
/// up under the key of what the first candidate would be sent, replayed in the caller's protocol (a stream when the
/// answer was one). Says what the cache did in <c>x-ccx-cache</c> on every answer. <c>count_tokens</c> is never cached.
/// </summary>
internal sealed partial class CacheStage(ResponseCache cache, UpstreamCalls calls, TimeProvider time, ILogger<CacheStage> logger) : IRequestStage
{
    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var policy = request.IsCountTokens ? null : ResponseCache.PolicyFor(request.Http.Request, request.Group);
        request.Cache = policy;
        if (policy is null)
        {
            return await next(request).ConfigureAwait(false);
        }

        request.Record.Cache = policy.Read ? "miss" : "bypass";
        GatewayHeaders.Set(request.Http, ResponseCache.Header, request.Record.Cache);
        if (policy.Read && await AnswerFromCacheAsync(request, policy.Config).ConfigureAwait(false))
        {
            request.AnsweredFromCache = true;
            return null;
        }

        return await next(request).ConfigureAwait(false);
    }

    /// <summary>
    /// Looks the request up and on a hit answers with the stored answer. Sets the key it looked under (none when the
    /// request cannot be built for the first candidate: the attempt then says why).
    /// </summary>
    private async Task<bool> AnswerFromCacheAsync(ForwardedRequest request, Channels.ResponseCacheConfig config)
    {
        var context = request.Http;
        var channel = request.FirstChannel;
        if (calls.Build(request, channel, channel.ApiKeys[0]).Failed(out _, out var call))
        {
            return false;
        }

        var key = request.CacheKey = ResponseCache.Key(request.Caller.Group, call, context.Request);
        ReplayedAnswer? replay = null;
        CachedEntry? entry = null;
        try
        {
            entry = await cache.GetAsync(key, config, context.RequestAborted).ConfigureAwait(false);
            replay = entry is null ? null : await ResponseReplay.RenderAsync(entry.Answer, call, context.RequestAborted).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // An entry is data from Redis that other replicas (and versions) wrote: whatever it does, it is a miss.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.CacheEntryUnusable(logger, ex.GetType().Name);
        }

        if (entry is null || replay is null)
        {
            // A miss (or an entry that is no answer any more): the fresh answer replaces it.
            return false;
        }

        request.Record.Cache = "hit";
        request.Record.UpstreamModel = Logging.LogText.Escape(channel.MapModel(request.Model));
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        GatewayHeaders.Set(context, ResponseCache.Header, "hit");
        response.Headers.Age = Math.Max(0, (long)(time.GetUtcNow() - entry.StoredAt).TotalSeconds).ToString(CultureInfo.InvariantCulture);
        if (replay.IsStream)
        {
            // As the relay frames it: Server-Sent Events, or a Gemini client's JSON array.
            response.ContentType = call.Plan.StreamContentType ?? "text/event-stream; charset=utf-8";
            response.Headers.CacheControl = "no-cache";
            request.Record.FirstTokenTimestamp = time.GetTimestamp();
        }
        else
        {
            response.ContentType = "application/json";
            response.ContentLength = replay.Body.Length;
        }

        try
        {
            if (call.BeforeLastWrite is { } beforeLastWrite)
            {
                await beforeLastWrite().ConfigureAwait(false);
            }

            await response.Body.WriteAsync(replay.Body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            // The client left; it was answered from the cache all the same.
        }

        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(5, LogLevel.Warning, "A response cache entry could not be replayed ({ExceptionType}); the request is forwarded")]
        public static partial void CacheEntryUnusable(ILogger logger, string exceptionType);
    }
}
