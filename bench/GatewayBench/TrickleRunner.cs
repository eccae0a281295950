using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace CcxProxy.Bench;

/// <summary>What one trickle cell measured: many streams open at once, each an event every interval.</summary>
internal sealed record TrickleResult(
    Scenario Scenario,
    string Target,
    int Streams,
    int Failed,
    int OpenAtEnd,
    long Events,
    TimeSpan Window,
    TimeSpan? GatewayCpu,
    long? GatewaySwitches,
    long? RssBefore,
    long? RssOpen,
    double[] TtfeMs,
    string? FirstError)
{
    /// <summary>Gateway CPU per event the client received in the window, in microseconds.</summary>
    public double? CpuPerEventMicroseconds => GatewayCpu is { } cpu && Events > 0 ? cpu.TotalMicroseconds / Events : null;

    /// <summary>The gateway's threads' context switches per event the client received (each one a thread put to sleep or woken).</summary>
    public double? SwitchesPerEvent => GatewaySwitches is { } switches && Events > 0 ? (double)switches / Events : null;

    /// <summary>Growth of the gateway's resident set per open stream, in KiB.</summary>
    public double? RssPerStreamKib => RssBefore is { } before && RssOpen is { } open && Streams > 0 ? (open - before) / 1024.0 / Streams : null;
}

/// <summary>
/// Trickling streams, as real model output arrives: <c>N</c> streams opened over one interval (so their events
/// spread evenly in time) and held open, each receiving one event every interval. After the ramp, the gateway's
/// CPU time and the events the clients receive are counted over a window; its resident set is read before the
/// streams open and while they all are. Bounded: the streams are cut when the window ends.
/// </summary>
internal sealed class TrickleRunner(HttpClient client)
{
    /// <summary>A client for thousands of streams at once to one server (the closed-loop client allows 1024).</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = int.MaxValue,
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(10),
    })
    {
        DefaultRequestVersion = HttpVersion.Version11,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public async Task<TrickleResult> RunAsync(Scenario scenario, Target target, int streams, TimeSpan interval, TimeSpan window,
        GatewayProcess? gateway, CancellationToken ct)
    {
        using var cut = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var uri = new Uri(target.BaseUrl, scenario.SpeaksOpenAI(target) ? "/v1/chat/completions" : "/v1/messages");
        var ttfe = new ConcurrentBag<double>();
        var errors = new ConcurrentQueue<string>();
        long events = 0;
        var open = 0;
        var rssBefore = gateway?.ProcStatusBytes("VmRSS");
        var tasks = new Task[streams];
        for (var i = 0; i < streams; i++)
        {
            var offset = interval * i / streams;
            tasks[i] = Task.Run(() => StreamAsync(scenario, target, uri, offset, ttfe, errors, () => Interlocked.Increment(ref open),
                () => Interlocked.Decrement(ref open), n => Interlocked.Add(ref events, n), cut.Token), ct);
        }

        // The ramp: every stream opened and past its first events.
        await Task.Delay(interval + TimeSpan.FromSeconds(3), ct);
        var cpuBefore = gateway?.CpuTime();
        var switchesBefore = gateway?.ContextSwitches();
        var eventsBefore = Interlocked.Read(ref events);
        var begin = Stopwatch.GetTimestamp();
        await Task.Delay(window, ct);
        var cpu = gateway?.CpuTime() - cpuBefore;
        var switches = gateway?.ContextSwitches() - switchesBefore;
        var counted = Interlocked.Read(ref events) - eventsBefore;
        var elapsed = Stopwatch.GetElapsedTime(begin);
        var rssOpen = gateway?.ProcStatusBytes("VmRSS");
        var openAtEnd = Volatile.Read(ref open);

        await cut.CancelAsync();
        try
        {
            await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60), ct);
        }
        catch (TimeoutException)
        {
            errors.Enqueue("some streams did not end within 60 s of being cut");
        }

        var sorted = ttfe.ToArray();
        Array.Sort(sorted);
        return new TrickleResult(scenario, target.Name, streams, errors.Count, openAtEnd, counted, elapsed, cpu, switches, rssBefore, rssOpen, sorted,
            errors.TryPeek(out var first) ? first : null);
    }

    private async Task StreamAsync(Scenario scenario, Target target, Uri uri, TimeSpan offset, ConcurrentBag<double> ttfe, ConcurrentQueue<string> errors,
        Action opened, Action closed, Action<long> received, CancellationToken cut)
    {
        try
        {
            await Task.Delay(offset, cut);
            using var request = scenario.CreateRequest(target, uri);

            var begin = Stopwatch.GetTimestamp();
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cut);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                errors.Enqueue($"HTTP {(int)response.StatusCode}");
                return;
            }

            await using var content = await response.Content.ReadAsStreamAsync(cut);
            var buffer = new byte[4096];
            var first = true;
            var lastWasNewline = false;
            opened();
            try
            {
                int read;
                while ((read = await content.ReadAsync(buffer, cut)) > 0)
                {
                    if (first)
                    {
                        ttfe.Add(Stopwatch.GetElapsedTime(begin).TotalMilliseconds);
                        first = false;
                    }

                    received(CountFrameEnds(buffer.AsSpan(0, read), ref lastWasNewline));
                }
            }
            finally
            {
                closed();
            }
        }
        catch (OperationCanceledException) when (cut.IsCancellationRequested)
        {
            // The window ended: cut on purpose.
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            if (!cut.IsCancellationRequested)
            {
                errors.Enqueue($"{ex.GetType().Name}: {ex.Message}");
            }
        }
    }

    /// <summary>SSE frames that ended in this chunk (a blank line), across chunk boundaries.</summary>
    private static long CountFrameEnds(ReadOnlySpan<byte> chunk, ref bool lastWasNewline)
    {
        long frames = 0;
        foreach (var b in chunk)
        {
            if (b == (byte)'\n')
            {
                if (lastWasNewline)
                {
                    frames++;
                }

                lastWasNewline = true;
            }
            else if (b != (byte)'\r')
            {
                lastWasNewline = false;
            }
        }

        return frames;
    }
}
