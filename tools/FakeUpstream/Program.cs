// fake-upstream: the tests' FakeUpstream with its default handler, as a program for benchmarks
// and demos. Usage: fake-upstream [--port N] [--delay-ms N] [--events N]
using System.Globalization;
using System.Runtime.InteropServices;
using CcxProxy.TestSupport;

var port = 9000;
var delayMs = 0;
var events = 20;
for (var i = 0; i < args.Length; i++)
{
    var name = args[i];
    if (name is "-h" or "--help")
    {
        Console.WriteLine("usage: fake-upstream [--port N (default 9000, 0 = free port)] [--delay-ms N (between streamed events, default 0)] [--events N (text deltas per streamed answer, default 20)]");
        return 0;
    }

    if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
    {
        Console.Error.WriteLine($"fake-upstream: {name} needs a non-negative integer value (try --help).");
        return 2;
    }

    i++;
    switch (name)
    {
        case "--port" when value <= 65535:
            port = value;
            break;
        case "--delay-ms":
            delayMs = value;
            break;
        case "--events" when value >= 1:
            events = value;
            break;
        default:
            Console.Error.WriteLine($"fake-upstream: unknown option or bad value: {name} {value} (try --help).");
            return 2;
    }
}

var options = new FakeUpstreamOptions { TextEvents = events, EventDelay = TimeSpan.FromMilliseconds(delayMs) };
await using var upstream = await FakeUpstream.StartAsync(port, options);

var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

Console.WriteLine($"fake-upstream listening on {upstream.BaseUrl.OriginalString} (events={events}, delay-ms={delayMs}); Ctrl+C to stop.");
await stop.Task;
Console.WriteLine("fake-upstream stopping.");
return 0;

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.TrySetResult();
}
