using System.Diagnostics;

namespace CcxProxy.Tests.Telemetry;

/// <summary>
/// Waits for something the gateway does after the client already has its answer (the end-of-request
/// log line, span and metrics), with a deadline rather than a fixed sleep: the machine is shared and slow.
/// </summary>
internal static class Poll
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    public static async Task<T> UntilAsync<T>(Func<T?> probe, string what) where T : class
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (probe() is { } found)
            {
                return found;
            }

            if (clock.Elapsed > Deadline)
            {
                Assert.Fail($"gave up waiting for {what} after {Deadline.TotalSeconds} s");
            }

            await Task.Delay(20);
        }
    }

    public static async Task UntilAsync(Func<bool> condition, string what) =>
        await UntilAsync(() => condition() ? what : null, what);
}
