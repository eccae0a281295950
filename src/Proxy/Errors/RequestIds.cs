using System.Security.Cryptography;

namespace CcxProxy.Errors;

/// <summary>
/// Gives every request an id (<c>req_</c> + 24 hex characters), returned in the <c>x-request-id</c>
/// header and in error bodies, so a user's report can be matched with the gateway's logs.
/// </summary>
public static class RequestIds
{
    /// <summary>The response header that carries the id.</summary>
    public const string Header = "x-request-id";

    private static readonly object s_key = new();

    /// <summary>The id of this request, or null before the middleware ran.</summary>
    public static string? Get(HttpContext context) => context.Items.TryGetValue(s_key, out var id) ? id as string : null;

    /// <summary>Assigns the id and sets the response header.</summary>
    public static string Assign(HttpContext context)
    {
        Span<byte> random = stackalloc byte[12];
        RandomNumberGenerator.Fill(random);
        var id = "req_" + Convert.ToHexStringLower(random);
        context.Items[s_key] = id;
        GatewayHeaders.Set(context, Header, id);
        return id;
    }
}
