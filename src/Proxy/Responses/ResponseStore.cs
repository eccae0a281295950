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
/// configured, so every replica reads what another wrote). Each is filed under the caller's key: another key's
/// response is never found, whatever its id.
/// </summary>
internal sealed class ResponseStore(IDistributedCache cache, IOptions<ResponsesSettings> settings)
{
    private readonly TimeSpan _keep = TimeSpan.FromSeconds(settings.Value.StoreSeconds);

    public async Task SaveAsync(string keyId, StoredResponse stored, CancellationToken cancellationToken)
    {
        var id = stored.Response["id"]!.GetValue<string>();
        var value = JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["response"] = stored.Response.DeepClone(), ["input"] = stored.Input.DeepClone() });
        await cache.SetAsync(Key(keyId, id), value, new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = _keep }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The response, or null when there is none under this caller's key.</summary>
    public async Task<StoredResponse?> GetAsync(string keyId, string id, CancellationToken cancellationToken)
    {
        var value = await cache.GetAsync(Key(keyId, id), cancellationToken).ConfigureAwait(false);
        return value is null || JsonNode.Parse(value) is not JsonObject entry
            || entry["response"] is not JsonObject response || entry["input"] is not JsonArray input
            ? null
            : new StoredResponse(response, input);
    }

    /// <summary>Deletes the response; false when there was none under this caller's key.</summary>
    public async Task<bool> DeleteAsync(string keyId, string id, CancellationToken cancellationToken)
    {
        var key = Key(keyId, id);
        if (await cache.GetAsync(key, cancellationToken).ConfigureAwait(false) is null)
        {
            return false;
        }

        await cache.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        return true;
    }

    // The caller's key and the id hashed together: neither appears in Redis as it is. (The cache adds its "ccx:" prefix.)
    private static string Key(string keyId, string id) =>
        "responses:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(keyId + "\n" + id)));
}
