using System.Globalization;
using System.Text.Json.Nodes;
using CcxProxy.Access;
using CcxProxy.Errors;
using CcxProxy.Responses;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Endpoints;

/// <summary>
/// The kept OpenAI Responses answers, for the caller's own key only: <c>GET /v1/responses/{id}</c>,
/// <c>DELETE /v1/responses/{id}</c> and <c>GET /v1/responses/{id}/input_items</c>. Another key's response, a deleted
/// one and an expired one are all the same 404.
/// </summary>
internal static class ResponsesEndpoint
{
    private const int DefaultLimit = 20;
    private const int MaxLimit = 100;

    public static IEndpointRouteBuilder MapResponses(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/responses/{id}", GetAsync);
        endpoints.MapDelete("/v1/responses/{id}", DeleteAsync);
        endpoints.MapGet("/v1/responses/{id}/input_items", InputItemsAsync);
        return endpoints;
    }

    private static async Task GetAsync(HttpContext context, string id, CallerAuthentication authentication, ResponseStore store)
    {
        if (await FindAsync(context, id, authentication, store).ConfigureAwait(false) is { } stored)
        {
            await Results.Json(stored.Response).ExecuteAsync(context).ConfigureAwait(false);
        }
    }

    private static async Task DeleteAsync(HttpContext context, string id, CallerAuthentication authentication, ResponseStore store)
    {
        if ((await authentication.AuthenticateAsync(context).ConfigureAwait(false)).Failed(out var refused, out var caller))
        {
            await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
            return;
        }

        bool deleted;
        try
        {
            deleted = await store.DeleteAsync(ResponseStore.ScopeOf(caller), id, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await GatewayErrors.WriteAsync(context, Unavailable).ConfigureAwait(false);
            return;
        }

        if (!deleted)
        {
            await GatewayErrors.WriteAsync(context, NotFound(id)).ConfigureAwait(false);
            return;
        }

        await Results.Json(new JsonObject { ["id"] = id, ["object"] = "response.deleted", ["deleted"] = true }).ExecuteAsync(context).ConfigureAwait(false);
    }

    // The input items, newest first unless order=asc, a page of limit (1–100, default 20) after the item named by `after`.
    private static async Task InputItemsAsync(HttpContext context, string id, CallerAuthentication authentication, ResponseStore store)
    {
        var query = context.Request.Query;
        var order = query["order"].ToString() is { Length: > 0 } o ? o : "desc";
        var limit = DefaultLimit;
        if ((query["limit"].ToString() is { Length: > 0 } l && !int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out limit)) || limit is < 1 or > MaxLimit
            || order is not ("asc" or "desc"))
        {
            await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest,
                $"limit must be a whole number from 1 to {MaxLimit}, and order asc or desc")).ConfigureAwait(false);
            return;
        }

        if (await FindAsync(context, id, authentication, store).ConfigureAwait(false) is not { } stored)
        {
            return;
        }

        // Items a client sent without a string id get one from their place in the input.
        var items = stored.Input.OfType<JsonObject>().Select((item, index) =>
        {
            var copy = item.DeepClone().AsObject();
            if (copy["id"] is not JsonValue id || id.GetValueKind() != System.Text.Json.JsonValueKind.String)
            {
                copy["id"] = string.Create(CultureInfo.InvariantCulture, $"item_{index}");
            }

            return copy;
        }).ToList();
        if (order == "desc")
        {
            items.Reverse();
        }

        var after = query["after"].ToString();
        var start = after.Length == 0 ? 0 : items.FindIndex(i => i["id"]!.GetValue<string>() == after) + 1;
        if (after.Length > 0 && start == 0)
        {
            await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest, $"after: no input item '{after}' in this response")).ConfigureAwait(false);
            return;
        }

        var page = items.Skip(start).Take(limit).ToList();
        await Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray([.. page]),
            ["first_id"] = page.FirstOrDefault()?["id"]?.DeepClone(),
            ["last_id"] = page.LastOrDefault()?["id"]?.DeepClone(),
            ["has_more"] = start + page.Count < items.Count,
        }).ExecuteAsync(context).ConfigureAwait(false);
    }

    // The caller's stored response, or the refusal already written (401, 404).
    private static async Task<StoredResponse?> FindAsync(HttpContext context, string id, CallerAuthentication authentication, ResponseStore store)
    {
        if ((await authentication.AuthenticateAsync(context).ConfigureAwait(false)).Failed(out var refused, out var caller))
        {
            await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
            return null;
        }

        StoredResponse? stored;
        try
        {
            stored = await store.GetAsync(ResponseStore.ScopeOf(caller), id, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await GatewayErrors.WriteAsync(context, Unavailable).ConfigureAwait(false);
            return null;
        }

        if (stored is null)
        {
            await GatewayErrors.WriteAsync(context, NotFound(id)).ConfigureAwait(false);
        }

        return stored;
    }

    private static readonly GatewayError Unavailable = new(StatusCodes.Status503ServiceUnavailable, "the store of kept responses cannot be reached; try again shortly");

    private static GatewayError NotFound(string id) => new(StatusCodes.Status404NotFound, $"No response found with id '{id}'.") { Code = "response_not_found" };
}
