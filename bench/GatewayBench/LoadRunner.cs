using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace CcxProxy.Bench;

/// <summary>
/// One kind of request: its body and how to tell a complete answer. The client is always an Anthropic
/// Messages client of the gateway; <paramref name="OpenAIUpstream"/> means the channel behind it is an
/// <c>openai</c> one (the gateway converts), so the direct target is asked in OpenAI's protocol instead.
/// <paramref name="Cached"/> asks the gateway's response cache for the answer (<c>x-ccx-cache: use</c>, the bench's
/// group caches on request): after the warm-up's first request every measured one is a hit.
/// </summary>
internal sealed record Scenario(string Name, string Model, bool Stream, int UpstreamIndex, bool OpenAIUpstream = false, bool Cached = false)
{
    public byte[] Body { get; } = Encoding.UTF8.GetBytes(Stream
        ? $$"""{"model":"{{Model}}","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}]}"""
        : $$"""{"model":"{{Model}}","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}""");

    /// <summary>What the gateway sends the fake for <see cref="Body"/> (usage chunk included), for the direct target of an OpenAI upstream.</summary>
    public byte[] OpenAIBody { get; } = Encoding.UTF8.GetBytes(Stream
        ? $$"""{"model":"{{Model}}","max_tokens":1024,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"""
        : $$"""{"model":"{{Model}}","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}""");

    /// <summary>True when the request goes to the fake in OpenAI's protocol (the direct or floor target of an OpenAI upstream).</summary>
    public bool SpeaksOpenAI(Target target) => OpenAIUpstream && target.Name is Targets.Direct or Targets.Floor;

    /// <summary>The request for <paramref name="target"/>: the body and the credentials in the protocol it is asked in.</summary>
    public HttpRequestMessage CreateRequest(Target target, Uri uri)
    {
        var openAI = SpeaksOpenAI(target);
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(openAI ? OpenAIBody : Body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (openAI)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + target.ApiKey);
        }
        else
        {
            request.Headers.TryAddWithoutValidation("x-api-key", target.ApiKey);
            request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        }

        return request;
    }

    /// <summary>The last frame of a complete stream for this target: <c>message_stop</c>, or OpenAI's <c>[DONE]</c>.</summary>
    public byte[] EndMarker(Target target) => SpeaksOpenAI(target) ? "[DONE]"u8.ToArray() : "message_stop"u8.ToArray();
}

/// <summary>Where requests go: the fake upstream itself, or the gateway in front of it.</summary>
internal sealed record Target(string Name, Uri BaseUrl, string ApiKey);

/// <summary>What one cell measured. Times in milliseconds, sorted ascending.</summary>
internal sealed record CellResult(
    int Ok,
    int Errors,
    TimeSpan Elapsed,
    double[] LatencyMs,
    double[] TtfbMs,
    long Bytes,
    string? FirstError)
{
    public double RequestsPerSecond => Elapsed > TimeSpan.Zero ? Ok / Elapsed.TotalSeconds : 0;

    public double BytesPerResponse => Ok > 0 ? (double)Bytes / Ok : 0;

    /// <summary>Nearest-rank percentile of a sorted array; NaN when empty.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>
/// Closed-loop load: N workers, each sends its next request when the previous one is read to the end.
/// Bounded by a deadline and a request count; each request also has its own timeout.
/// </summary>
internal sealed class LoadRunner
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _client;

    public LoadRunner(HttpClient client) => _client = client;

    /// <summary>The one client both targets use: same handler settings, HTTP/1.1, plenty of connections.</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = 1024,
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    })
    {
        DefaultRequestVersion = HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<CellResult> RunAsync(Scenario scenario, Target target, int concurrency, TimeSpan duration, int maxRequests, CancellationToken ct)
    {
        var uri = new Uri(target.BaseUrl, scenario.SpeaksOpenAI(target) ? "/v1/chat/completions" : "/v1/messages");
        var issued = 0;
        var start = Stopwatch.GetTimestamp();
        var deadline = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var workers = new Task<WorkerResult>[concurrency];
        for (var i = 0; i < concurrency; i++)
        {
            workers[i] = Task.Run(() => WorkerAsync(scenario, target, uri, deadline, maxRequests, () => Interlocked.Increment(ref issued), ct), ct);
        }

        var results = await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(start);
        ct.ThrowIfCancellationRequested();

        var latency = results.SelectMany(r => r.LatencyMs).ToArray();
        var ttfb = results.SelectMany(r => r.TtfbMs).ToArray();
        Array.Sort(latency);
        Array.Sort(ttfb);
        return new CellResult(
            latency.Length,
            results.Sum(r => r.Errors),
            elapsed,
            latency,
            ttfb,
            results.Sum(r => r.Bytes),
            results.Select(r => r.FirstError).FirstOrDefault(e => e is not null));
    }

    private async Task<WorkerResult> WorkerAsync(Scenario scenario, Target target, Uri uri, long deadline, int maxRequests, Func<int> next, CancellationToken ct)
    {
        var result = new WorkerResult();
        var endMarker = scenario.EndMarker(target);
        var buffer = new byte[16 * 1024];
        var tail = new byte[64];
        while (!ct.IsCancellationRequested && Stopwatch.GetTimestamp() < deadline && next() <= maxRequests)
        {
            var begin = Stopwatch.GetTimestamp();
            try
            {
                using var request = scenario.CreateRequest(target, uri);
                if (scenario.Cached)
                {
                    request.Headers.TryAddWithoutValidation("x-ccx-cache", "use");
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(RequestTimeout);

                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                await using var content = await response.Content.ReadAsStreamAsync(timeout.Token);
                var read = await content.ReadAsync(buffer, timeout.Token);
                var firstByte = Stopwatch.GetTimestamp();
                long bytes = 0;
                var tailLength = 0;
                while (read > 0)
                {
                    bytes += read;
                    tailLength = KeepTail(tail, tailLength, buffer.AsSpan(0, read));
                    read = await content.ReadAsync(buffer, timeout.Token);
                }

                var end = Stopwatch.GetTimestamp();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    result.Fail($"HTTP {(int)response.StatusCode}: {Encoding.UTF8.GetString(tail, 0, tailLength)}");
                    continue;
                }

                if (scenario.Cached && target.Name == Targets.Gateway
                    && !(response.Headers.TryGetValues("x-ccx-cache", out var cache) && cache.Contains("hit")))
                {
                    // The warm-up's first request stores the answer; a measured miss would measure the wrong path.
                    result.Fail("not answered from the response cache");
                    continue;
                }

                if (scenario.Stream && tail.AsSpan(0, tailLength).IndexOf(endMarker) < 0)
                {
                    result.Fail($"stream ended without {Encoding.UTF8.GetString(endMarker)}: ...{Encoding.UTF8.GetString(tail, 0, tailLength)}");
                    continue;
                }

                result.LatencyMs.Add(Stopwatch.GetElapsedTime(begin, end).TotalMilliseconds);
                result.TtfbMs.Add(Stopwatch.GetElapsedTime(begin, firstByte).TotalMilliseconds);
                result.Bytes += bytes;
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && ex is HttpRequestException or IOException or OperationCanceledException)
            {
                result.Fail($"{ex.GetType().Name}: {ex.Message}");
            }
        }

        return result;
    }

    /// <summary>Keeps the last <c>tail.Length</c> bytes seen, to check how a body ends without buffering it.</summary>
    private static int KeepTail(byte[] tail, int length, ReadOnlySpan<byte> chunk)
    {
        if (chunk.Length >= tail.Length)
        {
            chunk[^tail.Length..].CopyTo(tail);
            return tail.Length;
        }

        var keep = Math.Min(length, tail.Length - chunk.Length);
        tail.AsSpan(length - keep, keep).CopyTo(tail);
        chunk.CopyTo(tail.AsSpan(keep));
        return keep + chunk.Length;
    }

    private sealed class WorkerResult
    {
        public List<double> LatencyMs { get; } = new(4096);

        public List<double> TtfbMs { get; } = new(4096);

        public long Bytes { get; set; }

        public int Errors { get; private set; }

        public string? FirstError { get; private set; }

        public void Fail(string error)
        {
            Errors++;
            FirstError ??= error;
        }
    }
}
