namespace CcxProxy.Hosting;

/// <summary>
/// <c>ccx-proxy healthcheck [--url URL]</c>: asks a running gateway's liveness endpoint and exits 0 when
/// it answers 200, 1 otherwise. The container's HEALTHCHECK uses it, since the runtime image has no curl.
/// </summary>
internal static class HealthCheckCommand
{
    public const string Verb = "healthcheck";
    private const string DefaultUrl = "http://127.0.0.1:3000/livez";

    public static async Task<int> RunAsync(string[] args)
    {
        var url = args is ["--url", var given, ..] ? given : DefaultUrl;
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await client.GetAsync(new Uri(url)).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"{url}: {(int)response.StatusCode}").ConfigureAwait(false);
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"{url}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
