using System.Diagnostics;

namespace CcxProxy.Tests.Support;

/// <summary>Runs a real client CLI to its end, bounded in time: stdin closed, both outputs read whole.</summary>
public static class CliProcess
{
    /// <summary>Runs <paramref name="start"/> (its output redirected here); after <paramref name="limit"/> the whole tree is killed and the exit code is -1.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(ProcessStartInfo start, TimeSpan limit)
    {
        ArgumentNullException.ThrowIfNull(start);
        start.RedirectStandardInput = true;
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (-1, await stdout, await stderr + $"\n(killed after {limit.TotalSeconds:0} s)");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
