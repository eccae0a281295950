using System.Globalization;
using CcxProxy.Access;
using CcxProxy.Channels;
using CcxProxy.Errors;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Endpoints;

/// <summary>
/// <c>GET /v1/models</c> and <c>GET /v1/models/{id}</c>: the model names the caller's group may request,
/// in Anthropic's shape when the request carries <c>anthropic-version</c>, in Google's under <c>/v1beta</c> or when it
/// carries Google's key or client header, else in OpenAI's (docs/protocols.md §4).
/// A channel contributes the plain names of its <c>models</c> allowlist and the keys of its
/// <c>modelMapping</c> that it serves; wildcard patterns are not names and are not listed.
/// </summary>
internal static class ModelsEndpoint
{
    private const int DefaultLimit = 20;
    private const int MaxLimit = 1000;

    public static IEndpointRouteBuilder MapModels(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v1/models", ListAsync);
        endpoints.MapGet("/v1/models/{**id}", GetAsync);
        endpoints.MapGet("/v1beta/models", ListAsync);
        endpoints.MapGet("/v1beta/models/{**id}", GetAsync);
        return endpoints;
    }

    internal static IReadOnlyList<(string Id, DateTimeOffset Created)> Names(ChannelSnapshot snapshot, string group)
    {
        var names = new SortedDictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var groupConfig = snapshot.FindGroup(group);
        foreach (var channel in snapshot.Channels)
        {
            if (!channel.Enabled || !channel.Groups.Contains(group, StringComparer.Ordinal))
            {
                continue;
            }

            var plain = (channel.Models ?? []).Where(m => !m.Contains('*', StringComparison.Ordinal));
            foreach (var name in plain.Concat(channel.ModelMapping.Keys).Where(n => channel.ServesModel(n) && groupConfig?.AllowsModel(n) != false))
            {
                names.TryAdd(name, snapshot.LoadedAt);
            }
        }

        return names.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    private static async Task ListAsync(HttpContext context, CallerAuthentication authentication, IChannelStore channels)
    {
        if ((await authentication.AuthenticateAsync(context).ConfigureAwait(false)).Failed(out var refused, out var caller))
        {
            await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
            return;
        }

        var names = Names(channels.Current, caller.Group);
        switch (ClientProtocols.Of(context.Request))
        {
            case WireProtocol.OpenAI:
                await Results.Json(new { @object = "list", data = names.Select(OpenAIModel) }).ExecuteAsync(context).ConfigureAwait(false);
                return;
            case WireProtocol.Gemini:
                await Results.Json(new { models = names.Select(GeminiModel) }).ExecuteAsync(context).ConfigureAwait(false);
                return;
        }

        var query = context.Request.Query;
        var limitText = query["limit"].ToString();
        var limit = DefaultLimit;
        if (limitText.Length > 0 && !int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit))
        {
            limit = -1;
        }

        if (limit is < 1 or > MaxLimit)
        {
            await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status400BadRequest, $"limit: must be a whole number between 1 and {MaxLimit}")).ConfigureAwait(false);
            return;
        }

        // Names are sorted; after_id pages forwards, before_id backwards (the page just before that id).
        List<(string Id, DateTimeOffset Created)> shown;
        bool hasMore;
        var afterId = query["after_id"].ToString();
        var beforeId = query["before_id"].ToString();
        if (beforeId.Length > 0)
        {
            var before = names.TakeWhile(n => n.Id != beforeId).ToList();
            shown = before.Skip(Math.Max(0, before.Count - limit)).ToList();
            hasMore = before.Count > limit;
        }
        else
        {
            var rest = afterId.Length > 0 ? names.SkipWhile(n => n.Id != afterId).Skip(1).ToList() : names.ToList();
            shown = rest.Take(limit).ToList();
            hasMore = rest.Count > limit;
        }

        await Results.Json(new
        {
            data = shown.Select(AnthropicModel),
            has_more = hasMore,
            first_id = shown.Count > 0 ? shown[0].Id : null,
            last_id = shown.Count > 0 ? shown[^1].Id : null,
        }).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static async Task GetAsync(string id, HttpContext context, CallerAuthentication authentication, IChannelStore channels)
    {
        if ((await authentication.AuthenticateAsync(context).ConfigureAwait(false)).Failed(out var refused, out var caller))
        {
            await GatewayErrors.WriteAsync(context, refused).ConfigureAwait(false);
            return;
        }

        // Google names a model "models/…" in its own URLs too (/v1beta/models/models/x is what some clients build).
        id = id.StartsWith("models/", StringComparison.Ordinal) ? id["models/".Length..] : id;
        var snapshot = channels.Current;
        if (snapshot.FindGroup(caller.Group)?.AllowsModel(id) == false || snapshot.Candidates(caller.Group, id, Random.Shared).Count == 0)
        {
            await GatewayErrors.WriteAsync(context, new GatewayError(StatusCodes.Status404NotFound,
                $"model '{id}' is not served by any channel available to this key")).ConfigureAwait(false);
            return;
        }

        var model = (id, snapshot.LoadedAt);
        object body = ClientProtocols.Of(context.Request) switch
        {
            WireProtocol.OpenAI => OpenAIModel(model),
            WireProtocol.Gemini => GeminiModel(model),
            _ => AnthropicModel(model),
        };
        await Results.Json(body).ExecuteAsync(context).ConfigureAwait(false);
    }

    private static object AnthropicModel((string Id, DateTimeOffset Created) m) =>
        new { id = m.Id, type = "model", display_name = m.Id, created_at = m.Created.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) };

    private static object GeminiModel((string Id, DateTimeOffset Created) m) => new
    {
        name = "models/" + m.Id,
        displayName = m.Id,
        supportedGenerationMethods = s_geminiMethods,
    };

    private static readonly string[] s_geminiMethods = ["generateContent", "streamGenerateContent", "countTokens"];

    private static object OpenAIModel((string Id, DateTimeOffset Created) m) =>
        new { id = m.Id, @object = "model", created = m.Created.ToUnixTimeSeconds(), owned_by = "ccx-proxy" };
}
