using CcxProxy.Access;
using CcxProxy.Channels;
using CcxProxy.Channels.Health;
using CcxProxy.Errors;
using CcxProxy.Redis;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Endpoints;

/// <summary>
/// <c>GET /status</c> (needs the admin key, <see cref="AdminAuthentication"/>): every live channel with the file it came from and the state of
/// its breakers (channel, each key, each destination: state, cooldown, recent error classes), and every
/// rejected file with its errors. Shows key fingerprints and header names, never secret values.
/// </summary>
internal static class StatusEndpoint
{
    public const string Path = "/status";

    public static IEndpointRouteBuilder MapStatus(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet(Path, async (HttpContext context, AdminAuthentication admin, IChannelStore channels, UpstreamHealth health, RedisConnection redis) =>
        {
            // Base URLs, groups, mappings and paths are the operators' business, not every caller's.
            if (admin.Authenticate(context) is { } refused)
            {
                await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
                return Results.Empty;
            }

            var snapshot = channels.Current;
            return Results.Json(new
            {
                version = snapshot.Version,
                loadedAt = snapshot.LoadedAt,
                directory = snapshot.Directory,
                channels = snapshot.Channels.Select(c => new
                {
                    name = c.Name,
                    type = c.Type.ChannelType(),
                    file = c.SourceFile,
                    enabled = c.Enabled,
                    baseUrls = c.BaseUrls.Select(u => u.OriginalString),
                    models = c.Models,
                    modelMapping = c.ModelMapping,
                    groups = c.Groups,
                    priority = c.Priority,
                    weight = c.Weight,
                    keys = c.ApiKeys.Select(k => k.Fingerprint),
                    headers = c.Headers.Keys,
                    timeouts = new
                    {
                        connect = c.Timeouts.Connect.TotalSeconds,
                        responseHeaders = c.Timeouts.ResponseHeaders.TotalSeconds,
                        firstContent = c.Timeouts.FirstContent.TotalSeconds,
                        idle = c.Timeouts.Idle.TotalSeconds,
                    },
                    health = Health(health.Report(c)),
                }),
                groups = snapshot.Groups.Values.OrderBy(g => g.Name, StringComparer.Ordinal).Select(g => new
                {
                    name = g.Name,
                    models = g.Models,
                    limits = g.Limits,
                }),
                rejected = snapshot.Rejected.Select(r => new
                {
                    file = r.File,
                    rejectedAt = r.RejectedAt,
                    lastGoodStillLive = r.LastGoodStillLive,
                    errors = r.Errors.Select(e => new { field = e.Field, message = e.Message }),
                }),
                redis = new { configured = redis.IsConfigured, connected = redis.IsConnected },
            });
        });
        return endpoints;
    }

    private static object Health(ChannelHealthReport report) => new
    {
        available = report.Available,
        breaker = Breaker(report.Channel),
        keys = report.Keys.Select(k => new { key = k.Fingerprint, disabled = k.Breaker.Reason == FailureKind.KeyRejected, breaker = Breaker(k.Breaker) }),
        destinations = report.Destinations.Select(d => new { baseUrl = d.BaseUrl, breaker = Breaker(d.Breaker) }),
    };

    private static object Breaker(BreakerReport breaker) => new
    {
        state = breaker.State switch
        {
            BreakerState.Open => "open",
            BreakerState.HalfOpen => "half_open",
            _ => "closed",
        },
        openUntil = breaker.OpenUntil,
        reason = breaker.Reason?.Name(),
        consecutiveFailures = breaker.ConsecutiveFailures,
        recentAttempts = breaker.WindowAttempts,
        recentFailures = breaker.WindowFailures,
        recentErrors = breaker.RecentErrors,
        lastFailure = breaker.LastFailure?.Name(),
        lastFailureAt = breaker.LastFailureAt,
    };
}
