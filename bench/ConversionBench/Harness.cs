using System.Buffers;
using System.Diagnostics;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Sse;

namespace CcxProxy.Bench.Conversion;

/// <summary>What a case does with each parsed event: nothing (parse only), relay it, or convert it.</summary>
internal sealed record BenchCase(string Name, RecordedStream Input, string Kind, Func<IStreamConverter>? CreateConverter, string? ExpectedEnd)
{
    public const string ParseOnly = "parse only";
    public const string Passthrough = "passthrough";
    public const string Convert = "convert";
}

/// <summary>Totals of one case over all its rounds, and its best round.</summary>
internal sealed class CaseResult(BenchCase benchCase)
{
    public BenchCase Case { get; } = benchCase;

    public long Streams { get; private set; }

    public long Events { get; private set; }

    public long AllocatedBytes { get; private set; }

    public long OutputBytesPerStream { get; set; }

    /// <summary>Events per second of the fastest round: the one least disturbed by the rest of the machine.</summary>
    public double BestEventsPerSecond { get; private set; }

    /// <summary>Events per second of every round, in order.</summary>
    public List<double> RoundEventsPerSecond { get; } = [];

    public double NanosecondsPerEvent => BestEventsPerSecond > 0 ? 1e9 / BestEventsPerSecond : double.NaN;

    public double AllocatedBytesPerEvent => Events > 0 ? (double)AllocatedBytes / Events : double.NaN;

    public void Add(long streams, long events, long allocated, TimeSpan elapsed)
    {
        Streams += streams;
        Events += events;
        AllocatedBytes += allocated;
        var rate = events / elapsed.TotalSeconds;
        RoundEventsPerSecond.Add(rate);
        BestEventsPerSecond = Math.Max(BestEventsPerSecond, rate);
    }
}

/// <summary>
/// Runs a case in a tight loop on the calling thread: a fresh <see cref="SseReader"/> over a
/// <see cref="MemoryStream"/> of the recorded bytes and a fresh converter per stream, every event fed to
/// it, output into one reused <see cref="ArrayBufferWriter{T}"/>. Everything completes synchronously, so
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/> sees every allocation of the work.
/// </summary>
internal sealed class Harness
{
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);

    /// <summary>Runs one stream of <paramref name="benchCase"/> and checks the output ends as it should.</summary>
    /// <returns>The bytes the client would receive.</returns>
    public long Validate(BenchCase benchCase)
    {
        _output.ResetWrittenCount();
        var (events, finished) = RunStream(benchCase);
        if (events != benchCase.Input.Events)
        {
            throw new InvalidOperationException($"{benchCase.Name}: read {events} events, expected {benchCase.Input.Events}");
        }

        if (benchCase.CreateConverter is null)
        {
            return 0;
        }

        var text = System.Text.Encoding.UTF8.GetString(_output.WrittenSpan);
        if (!finished || benchCase.ExpectedEnd is null || !text.TrimEnd().EndsWith(benchCase.ExpectedEnd, StringComparison.Ordinal))
        {
            var tail = text.Length > 300 ? text[^300..] : text;
            throw new InvalidOperationException($"{benchCase.Name}: the output does not end with {benchCase.ExpectedEnd} (finished: {finished}); its end:\n{tail}");
        }

        if (text.Contains("event: error", StringComparison.Ordinal) || text.Contains("\"error\":{", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{benchCase.Name}: the output holds an error frame");
        }

        return _output.WrittenCount;
    }

    /// <summary>Runs streams until <paramref name="duration"/> has passed (checking the clock every few streams).</summary>
    /// <returns>Streams run, events converted, bytes allocated, time taken.</returns>
    public (long Streams, long Events, long Allocated, TimeSpan Elapsed) Run(BenchCase benchCase, TimeSpan duration)
    {
        const int Batch = 16;
        long streams = 0;
        long events = 0;
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var start = Stopwatch.GetTimestamp();
        do
        {
            for (var i = 0; i < Batch; i++)
            {
                _output.ResetWrittenCount();
                events += RunStream(benchCase).Events;
            }

            streams += Batch;
        }
        while (Stopwatch.GetTimestamp() < deadline);

        var elapsed = Stopwatch.GetElapsedTime(start);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        return (streams, events, allocated, elapsed);
    }

    private (int Events, bool Finished) RunStream(BenchCase benchCase)
    {
        using var stream = new MemoryStream(benchCase.Input.Bytes, writable: false);
        var reader = new SseReader(stream);
        try
        {
            var converter = benchCase.CreateConverter?.Invoke();
            converter?.Begin(_output);
            var events = 0;
            while (ReadSync(reader) is { } sseEvent)
            {
                events++;
                converter?.Convert(sseEvent, _output);
            }

            converter?.End(_output);
            return (events, converter?.Finished ?? true);
        }
        finally
        {
            // Completes synchronously: it only returns the pooled buffers.
            reader.DisposeAsync().GetAwaiter().GetResult();
        }
    }

    /// <summary>A read from a MemoryStream completes synchronously; anything else would leave this thread and skew the allocation count.</summary>
    private static SseEvent? ReadSync(SseReader reader)
    {
        var pending = reader.ReadAsync(CancellationToken.None);
        if (!pending.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("SseReader.ReadAsync did not complete synchronously over a MemoryStream");
        }

        return pending.Result;
    }
}
