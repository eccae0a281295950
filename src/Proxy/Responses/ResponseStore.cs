using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Options;

namespace CcxProxy.Responses;

/// <summary>One kept response: the <c>response</c> object the client got, and every input item it answered.</summary>
/// <param name="Response">The <c>response</c> object.</param>
/// <param name="Input">The input items, the history before it included, in order.</param>
internal sealed record StoredResponse(JsonObject Response, JsonArray Input);

/// <summary>
/// The OpenAI Responses answers the gateway keeps, in the gateway's <see cref="IDistributedCache"/> (Redis when
/// configured, so every replica reads what another wrote). Each is filed under the caller's key (its whole hash, the
/// <c>scope</c>): another key's response is never found, whatever its id.
/// </summary>
internal sealed partial class ResponseStore(IDistributedCache cache, IOptions<ResponsesSettings> settings, ILogger<ResponseStore> logger)
{
    // A kept answer is written before the client gets its end: a stuck store may hold that end this long, no longer.
    private static readonly TimeSpan s_keepTimeout = TimeSpan.FromSeconds(5);

    private readonly TimeSpan _keep = TimeSpan.FromSeconds(settings.Value.StoreSeconds);

    /// <summary>Where a caller's kept answers are filed: its key's whole hash (its short id when it has none).</summary>
    public static string ScopeOf(Access.Caller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return caller.KeyHash.Length > 0 ? caller.KeyHash : caller.KeyId;
    }

    /// <summary>
    /// Keeps an answer without failing the request: the client still gets the answer when the store is down or slow
    /// (logged; a later <c>previous_response_id</c> naming it gets 404). Not cancelled by the client leaving.
    /// </summary>
    public async Task KeepAsync(string scope, StoredResponse stored)
    {
        using var timeout = new CancellationTokenSource(s_keepTimeout);
        try
        {
            await SaveAsync(scope, stored, timeout.Token).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // Redis down or slow: the answer stands, only its keeping failed.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.NotKept(logger, ex.GetType().Name);
        }
    }

    public async Task SaveAsync(string scope, StoredResponse stored, CancellationToken cancellationToken)
    {
        var id = stored.Response["id"]!.GetValue<string>();
        var value = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["response"] = stored.Response.DeepClone(), ["input"] = stored.Input.DeepClone() });
        await cache.SetAsync(Key(scope, id), value, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = _keep }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The response, or null when there is none under this caller's key.</summary>
    public async Task<StoredResponse?> GetAsync(string scope, string id, CancellationToken cancellationToken)
    {
        var value = await cache.GetAsync(Key(scope, id), cancellationToken).ConfigureAwait(false);
        return value is null || JsonNode.Parse(value) is not JsonObject entry
            || entry["response"] is not JsonObject response || entry["input"] is not JsonArray input
            ? null
            : new StoredResponse(response, input);
    }

    /// <summary>Deletes the response; false when there was none under this caller's key.</summary>
    public async Task<bool> DeleteAsync(string scope, string id, CancellationToken cancellationToken)
    {
        var key = Key(scope, id);
        if (await cache.GetAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        await cache.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "An OpenAI Responses answer could not be kept ({ExceptionType}); a later previous_response_id naming it gets 404")]
        public static partial void NotKept(ILogger logger, string exceptionType);
    }

    // The caller's key and the id hashed together: neither appears in Redis as it is. (The cache adds its "ccx:" prefix.)
    private static string Key(string scope, string id) =>
        "responses:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(scope + "\n" + id)));
}
