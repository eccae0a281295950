namespace CcxProxy.Errors;

/// <summary>
/// The headers the gateway itself puts on a response (<c>x-request-id</c>, the rate-limit headers of an admitted
/// request, <c>x-ccx-cache</c>): set through here, they are remembered, so that <see cref="Reset"/>, the one place a
/// response is cleared (before the next candidate answers, or before an error is written), puts them back.
/// </summary>
public static class GatewayHeaders
{
    private static readonly object s_key = new();

    /// <summary>Sets <paramref name="name"/> on the response and keeps it across <see cref="Reset"/>.</summary>
    public static void Set(HttpContext context, string name, string value)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.Items.TryGetValue(s_key, out var kept) || kept is not Dictionary<string, string> headers)
        {
            headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            context.Items[s_key] = headers;
        }

        headers[name] = value;
        context.Response.Headers[name] = value;
    }

    /// <summary>
    /// Clears the (unstarted) response of whatever an upstream attempt or a stage put there, status included, and
    /// puts the gateway's own headers back.
    /// </summary>
    public static void Reset(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var response = context.Response;
        response.Clear();
        if (context.Items.TryGetValue(s_key, out var kept) && kept is Dictionary<string, string> headers)
        {
            foreach (var (name, value) in headers)
            {
                response.Headers[name] = value;
            }
        }
    }
}
