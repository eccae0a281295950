using CcxProxy.Access;
using CcxProxy.Errors;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Usage;

namespace CcxProxy.Endpoints;

/// <summary>
/// <c>GET /admin/usage?dimension=key|group|channel|model&amp;name=NAME[&amp;from=…&amp;to=…]</c>: usage totals for
/// operators. Protected by <c>Admin:AccessKey</c> (env <c>Admin__AccessKey</c>), compared in constant time;
/// absent, the admin endpoints answer 404 as if they did not exist.
/// </summary>
internal static class AdminEndpoints
{
    public static IEndpointRouteBuilder MapAdmin(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/admin/usage", async (HttpContext context, AdminAuthentication admin, IUsageStore usage, TimeProvider time) =>
        {
            if (admin.Authenticate(context) is { } refused)
            {
                await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
                return;
            }

            var query = context.Request.Query;
            var dimension = query["dimension"].ToString();
            var name = query["name"].ToString();
            if (!UsageDimensions.All.Contains(dimension) || name.Length == 0)
            {
                await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest,
                    "dimension must be one of key, group, channel, model, and name is required")).ConfigureAwait(false);
                return;
            }

            var now = time.GetUtcNow();
            if (!UsageReport.TryParseInstant(query["from"], now.AddDays(-1), out var from) || !UsageReport.TryParseInstant(query["to"], now, out var to) || from > to)
            {
                await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest,
                    "from and to must be RFC 3339 instants (2026-11-23T00:00:00Z), from before to")).ConfigureAwait(false);
                return;
            }

            if (UsageDimensions.CheckRange(from, to, now) is { } range)
            {
                await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest, range)).ConfigureAwait(false);
                return;
            }

            var totals = await usage.ReadAsync(dimension, name, from, to, context.RequestAborted).ConfigureAwait(false);
            await Results.Json(UsageReport.ToJson(dimension, name, from, to, totals)).ExecuteAsync(context).ConfigureAwait(false);
        });
        return endpoints;
    }
}
