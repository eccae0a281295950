using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace CcxProxy.Bench;

/// <summary>
/// The gateway as a separate process (<c>dotnet ccx-proxy.dll --urls ...</c>), so its CPU and memory are
/// its own. Disposing kills it (whole tree); so does process exit, in case the benchmark is torn down.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private const int LogTailLines = 40;

    private readonly Process _process;
    private readonly Queue<string> _logTail = new();
    private readonly Lock _lock = new();
    private int _disposed;

    private GatewayProcess(Process process, Uri baseUrl)
    {
        _process = process;
        BaseUrl = baseUrl;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
    }

    public Uri BaseUrl { get; }

    public int Id => _process.Id;

    /// <summary>Starts the gateway (or another server in <paramref name="dll"/>, given <paramref name="arguments"/>) and waits (bounded) for <c>GET /readyz</c> = 200.</summary>
    public static async Task<GatewayProcess> StartAsync(string dll, string workingDirectory, int port,
        IReadOnlyDictionary<string, string> environment, TimeSpan readyTimeout, CancellationToken ct, IReadOnlyList<string>? arguments = null)
    {
        var baseUrl = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(dll);
        foreach (var argument in arguments ?? [])
        {
            info.ArgumentList.Add(argument);
        }

        info.ArgumentList.Add("--urls");
        info.ArgumentList.Add(baseUrl.OriginalString);
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        var process = new Process { StartInfo = info };
        var gateway = new GatewayProcess(process, baseUrl);
        process.OutputDataReceived += (_, e) => gateway.Remember(e.Data);
        process.ErrorDataReceived += (_, e) => gateway.Remember(e.Data);
        try
        {
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await gateway.WaitUntilReadyAsync(readyTimeout, ct);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    /// <summary>User + system CPU time of the gateway so far.</summary>
    public TimeSpan CpuTime()
    {
        _process.Refresh();
        return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
    }

    /// <summary>Context switches of all the gateway's threads so far (voluntary and not, from <c>/proc/PID/task/*/status</c>), or null.</summary>
    public long? ContextSwitches()
    {
        try
        {
            long total = 0;
            foreach (var task in Directory.EnumerateDirectories($"/proc/{_process.Id.ToString(CultureInfo.InvariantCulture)}/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                    // A thread that ended while it was read.
                }
            }

            return total;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A field of <c>/proc/PID/status</c> (e.g. <c>VmHWM</c>, the peak resident set) in bytes, or null.</summary>
    public long? ProcStatusBytes(string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id.ToString(CultureInfo.InvariantCulture)}/status"))
            {
                if (!line.StartsWith(field + ":", StringComparison.Ordinal))
                {
                    continue;
                }

                var parts = line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                return parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : null;
            }
        }
        catch (IOException)
        {
            // Not Linux, or the process is gone.
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>The last lines the gateway printed, for error messages.</summary>
    public string LogTail()
    {
        lock (_lock)
        {
            return string.Join(Environment.NewLine, _logTail);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        Kill();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"gateway-bench: gateway process {_process.Id} did not exit within 10 s of being killed.");
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }

    private async Task WaitUntilReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var readyz = new Uri(BaseUrl, "/readyz");
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var last = "no answer";
        while (Stopwatch.GetTimestamp() < deadline)
        {
            ct.ThrowIfCancellationRequested();
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"the gateway exited with code {_process.ExitCode} before it was ready. Its last output:{Environment.NewLine}{LogTail()}");
            }

            try
            {
                using var response = await client.GetAsync(readyz, ct);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }

                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                last = "timed out";
            }

            await Task.Delay(200, ct);
        }

        throw new TimeoutException($"GET {readyz} was not 200 within {timeout.TotalSeconds:0} s (last: {last}). Gateway output:{Environment.NewLine}{LogTail()}");
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_lock)
        {
            _logTail.Enqueue(line);
            while (_logTail.Count > LogTailLines)
            {
                _logTail.Dequeue();
            }
        }
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.Error.WriteLine($"gateway-bench: could not kill gateway process: {ex.Message}");
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Kill();
}
