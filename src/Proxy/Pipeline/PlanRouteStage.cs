using CcxProxy.Access;
using CcxProxy.Channels.Health;
using CcxProxy.Channels.Routing;
using CcxProxy.Channels;
using CcxProxy.Routing;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 3: the candidates for the caller's group and model, in the conversation's affinity order, or the one channel
/// the caller forced with <c>X-Channel</c>. 403 for a model (or a mapping) the group may not use, 404 for a model no
/// channel of the group serves, 400 for a name a channel maps ambiguously.
/// </summary>
internal sealed class PlanRouteStage(IChannelStore channels, UpstreamHealth health, IOptions<RoutingOptions> routing) : IRequestStep
{
    /// <summary>Lets a caller pick one of its group's channels by name (for ops and debugging).</summary>
    public const string ForcedChannelHeader = "X-Channel";

    /// <summary>Claude Code's conversation id, the first choice for session affinity.</summary>
    public const string SessionHeader = "X-Claude-Code-Session-Id";

    /// <summary>The Codex CLI's session header (its <c>prompt_cache_key</c> carries the same id).</summary>
    public const string CodexSessionHeader = "session-id";

    private readonly RoutingOptions _routing = routing.Value;

    public ValueTask<GatewayError?> RunAsync(ForwardedRequest request) => ValueTask.FromResult(Run(request));

    private GatewayError? Run(ForwardedRequest request)
    {
        var snapshot = channels.Current;
        var caller = request.Caller;
        var model = request.Model;
        request.Group = snapshot.FindGroup(caller.Group);
        if (request.Group is { } group && !group.AllowsModel(model))
        {
            return new GatewayError(StatusCodes.Status403Forbidden, $"this key's group '{caller.Group}' may not use model '{model}'") { Code = "model_not_allowed" };
        }

        if (Plan(request, snapshot).Failed(out var refused, out var route))
        {
            return refused;
        }

        request.Route = route;
        // The caller chose this name: escaped before it reaches a log line, a span or a metric.
        request.Record.Model = Logging.LogText.Escape(model);
        request.Record.Stream = request.Scan.Stream;
        return null;
    }

    // The client's own session header: Claude Code's, else Codex's.
    private static string? SessionOf(HttpRequest request) =>
        request.Headers[SessionHeader] is { Count: > 0 } claude ? claude.ToString() : request.Headers[CodexSessionHeader].ToString();

    private GatewayResult<RoutePlan> Plan(ForwardedRequest request, ChannelSnapshot snapshot)
    {
        var context = request.Http;
        var group = request.Caller.Group;
        var model = request.Model;
        health.Retain(snapshot);
        var affinity = _routing.SessionAffinity ? SessionAffinity.Key(SessionOf(context.Request), request.Text.Span) : null;
        var breakerCaller = BreakerCaller(context, request.Caller);
        if (context.Request.Headers[ForcedChannelHeader] is { Count: > 0 } forcedHeader && forcedHeader.ToString().Trim() is { Length: > 0 } forced)
        {
            var chosen = snapshot.Find(forced);
            if (chosen is null || !chosen.Enabled)
            {
                return new GatewayError(StatusCodes.Status404NotFound, $"{ForcedChannelHeader}: there is no enabled channel named '{forced}'") { Code = "channel_not_found" };
            }

            if (!chosen.Groups.Contains(group, StringComparer.Ordinal))
            {
                return new GatewayError(StatusCodes.Status403Forbidden, $"{ForcedChannelHeader}: this key's group '{group}' may not use channel '{chosen.Name}'")
                {
                    Code = "channel_not_allowed",
                };
            }

            if (!chosen.ServesModel(model))
            {
                return new GatewayError(StatusCodes.Status404NotFound, $"{ForcedChannelHeader}: channel '{chosen.Name}' does not serve model '{model}'") { Code = "model_not_found" };
            }

            return RefusedMapping([chosen], model, request.Group?.Models) ?? (GatewayResult<RoutePlan>)new RoutePlan(health, [chosen], affinity, forced: true, caller: breakerCaller);
        }

        var candidates = affinity is { } key ? snapshot.Candidates(group, model, key) : snapshot.Candidates(group, model, Random.Shared);
        if (candidates.Count == 0)
        {
            return new GatewayError(StatusCodes.Status404NotFound, $"model '{model}' is not served by any channel available to this key") { Code = "model_not_found" };
        }

        return RefusedMapping(candidates, model, request.Group?.Models) ?? (GatewayResult<RoutePlan>)new RoutePlan(health, candidates, affinity, caller: breakerCaller);
    }

    /// <summary>
    /// Refuses a name some candidate would map ambiguously (400) or to a model the group's allowlist does not name
    /// (403). Refused outright rather than routed elsewhere: such a name is a mistake or an attempt to reach a model
    /// through a name the allowlist admits.
    /// </summary>
    private static GatewayError? RefusedMapping(IReadOnlyList<ChannelConfig> candidates, string model, IReadOnlyList<string>? allowlist)
    {
        foreach (var candidate in candidates)
        {
            if (candidate.AmbiguousMapping(model) is { } ambiguous)
            {
                return new GatewayError(StatusCodes.Status400BadRequest, ambiguous) { Code = "model_ambiguous" };
            }

            if (allowlist is not null && candidate.MappingOutsideAllowlist(model, allowlist) is { } outside)
            {
                return new GatewayError(StatusCodes.Status403Forbidden, outside) { Code = "model_not_allowed" };
            }
        }

        return null;
    }

    /// <summary>
    /// Who a failure is counted against in the shared breakers: the key and the client's address (the real one
    /// behind a trusted ingress), so the users of one shared key still count as different callers. An IPv6
    /// address counts by its /64, which one host can fill with addresses of its own.
    /// </summary>
    private static string BreakerCaller(HttpContext context, Caller caller)
    {
        var address = context.Connection.RemoteIpAddress;
        if (address is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6, IsIPv4MappedToIPv6: false })
        {
            Span<byte> bytes = stackalloc byte[16];
            address.TryWriteBytes(bytes, out _);
            bytes[8..].Clear();
            address = new System.Net.IPAddress(bytes);
        }

        return caller.KeyId + "@" + address;
    }
}
