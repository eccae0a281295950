namespace CcxProxy.Transforms.Forwarding;

/// <summary>Puts the channel's credentials and headers on an upstream request.</summary>
internal static class UpstreamHeaders
{
    public static void Apply(HttpRequestMessage request, UpstreamCall call, string[] removed)
    {
        foreach (var name in removed)
        {
            request.Headers.Remove(name);
        }

        if (call.Auth == UpstreamAuth.Bearer)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + call.UpstreamKey);
        }
        else
        {
            request.Headers.TryAddWithoutValidation("x-api-key", call.UpstreamKey);
        }

        foreach (var (name, value) in call.Headers)
        {
            request.Headers.Remove(name);
            request.Headers.TryAddWithoutValidation(name, value);
        }
    }
}
