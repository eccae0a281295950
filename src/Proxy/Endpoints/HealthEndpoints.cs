using CcxProxy.Channels;
using CcxProxy.Redis;

namespace CcxProxy.Endpoints;

/// <summary>
/// Liveness (<c>/livez</c>: depends on nothing), readiness (<c>/readyz</c>: channel files loaded; Redis is
/// reported but never makes a replica unready, since limits fail open to memory while it is away), and the
/// cheap answer to Claude Code's warm-up <c>HEAD /</c>.
/// </summary>
internal static class HealthEndpoints
{
    public const string LivenessPath = "/livez";
    public const string ReadinessPath = "/readyz";

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapMethods("/", [HttpMethods.Get, HttpMethods.Head], () => Results.Text("ccx-proxy\n"));
        endpoints.MapMethods(LivenessPath, [HttpMethods.Get, HttpMethods.Head], () => Results.Text("ok\n"));
        endpoints.MapMethods(ReadinessPath, [HttpMethods.Get, HttpMethods.Head], (IChannelStore channels, RedisConnection redis, Lifecycle.DrainState drain) =>
        {
            var channelsLoaded = channels.IsLoaded;
            var ready = channelsLoaded && !drain.IsDraining;
            return Results.Json(
                new
                {
                    status = ready ? "ready" : drain.IsDraining ? "shutting_down" : "not_ready",
                    channels = new { loaded = channelsLoaded, count = channels.Current.Channels.Count, rejected = channels.Current.Rejected.Count },
                    redis = new { configured = redis.IsConfigured, connected = redis.IsConnected },
                },
                statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });
        return endpoints;
    }
}
