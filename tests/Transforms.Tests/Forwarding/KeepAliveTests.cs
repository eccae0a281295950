using System.IO.Pipelines;
using System.Text;
using System.Text.RegularExpressions;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

using static CcxProxy.Transforms.Tests.Forwarding.RelayHarness;

namespace CcxProxy.Transforms.Tests.Forwarding;

/// <summary>
/// The stream's keep-alives: written by the stream's timer while the relay waits for the upstream, so they must
/// come after exactly the configured silence and never land inside an event the relay is writing.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed partial class KeepAliveTests
{
    private const string Model = "claude-test";

    private static readonly ResponsePlan Plan = new()
    {
        MapError = (status, body) => (status, body.ToArray()),
        ConvertJson = json => json,
        CreateStreamConverter = () => new AnthropicPassthroughStream(Model),
    };

    private static UpstreamCall Call(TimeProvider time, TimeSpan ping, bool mayFailOver = false) => new()
    {
        Time = time,
        Body = ReadOnlyMemory<byte>.Empty,
        UpstreamPath = "/v1/messages",
        ClientModel = Model,
        UpstreamKey = "sk-test",
        Auth = UpstreamAuth.XApiKey,
        MayFailOver = mayFailOver,
        UpstreamProtocol = WireProtocol.Anthropic,
        Plan = Plan,
        IdleTimeout = TimeSpan.FromHours(1),
        PingInterval = ping,
        ChannelName = "test",
    };

    [TestCase(false)]
    [TestCase(true)]
    public async Task Silence_OneKeepAlivePerInterval_EventsInsideTheIntervalSendNone(bool mayFailOver)
    {
        // With another candidate behind it (mayFailOver), the stream is held until its first content, and the
        // keep-alives start only once it is committed to the client.
        var clock = new FakeTimeProvider();
        var upstream = new Pipe();
        var steps = FakeAnthropic.TextStream(Model, "one two three four five six", 6).OfType<StreamStep.Frame>().ToList();
        // message_start, the upstream's own ping, the text block's start and its first delta.
        await WriteAsync(upstream.Writer, Frames(steps.Take(4)));
        var client = new ObservedBody();
        var upstreamBody = new WatchedStream(upstream.Reader.AsStream());
        var relaying = RelayAsync(upstreamBody, client, Call(clock, TimeSpan.FromSeconds(10), mayFailOver));
        await client.WaitForAsync(text => text.Contains("content_block_delta", StringComparison.Ordinal));

        // The clock stands still until the relay waits for the upstream: the silence starts there.
        await upstreamBody.WaitUntilWaitingAsync();
        var upstreamPings = Pings(client.Text);

        // 50 s of silence: five keep-alives, each ten seconds after the one before.
        for (var expected = 1; expected <= 5; expected++)
        {
            clock.Advance(TimeSpan.FromSeconds(9));
            Assert.That(Pings(client.Text) - upstreamPings, Is.EqualTo(expected - 1), $"no keep-alive before 10 s of silence ({expected})");
            clock.Advance(TimeSpan.FromSeconds(1));
            var count = upstreamPings + expected;
            await client.WaitForAsync(text => Pings(text) == count);
        }

        // An event every 9 s: the client never waits 10 s, so no keep-alive.
        foreach (var step in steps.Skip(4))
        {
            await upstreamBody.WaitUntilWaitingAsync();
            clock.Advance(TimeSpan.FromSeconds(9));
            await WriteAsync(upstream.Writer, Frames(step));
            await client.WaitForAsync(text => text.Contains(step.WireText!, StringComparison.Ordinal));
        }

        await upstream.Writer.CompleteAsync();
        var attempt = await relaying;

        Assert.That(attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(Pings(client.Text) - upstreamPings, Is.EqualTo(5));
    }

    [Test]
    public async Task SlowClient_KeepAliveDueWhileTheRelayWrites_WaitsForItsNextRead()
    {
        // The client stops reading while the relay writes an event. A keep-alive falls due meanwhile: the timer must
        // neither write (the relay has the writer) nor spin (on this clock a timer armed for "now" fires at once, so a
        // spinning timer would never let Advance return).
        var clock = new FakeTimeProvider();
        var upstream = new Pipe();
        var steps = FakeAnthropic.TextStream(Model, "one two three", 3).OfType<StreamStep.Frame>().ToList();
        await WriteAsync(upstream.Writer, Frames(steps.Take(4)));
        var client = new ObservedBody();
        var upstreamBody = new WatchedStream(upstream.Reader.AsStream());
        var relaying = RelayAsync(upstreamBody, client, Call(clock, TimeSpan.FromSeconds(10)));
        await upstreamBody.WaitUntilWaitingAsync();
        var upstreamPings = Pings(client.Text);

        var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Hold = stuck.Task;
        await WriteAsync(upstream.Writer, Frames(steps[4]));
        await client.WaitUntilHeldAsync();
        await Task.Run(() => clock.Advance(TimeSpan.FromSeconds(35))).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(Pings(client.Text), Is.EqualTo(upstreamPings), "no keep-alive while the relay writes");

        client.Hold = null;
        stuck.SetResult();
        await upstreamBody.WaitUntilWaitingAsync();
        clock.Advance(TimeSpan.FromSeconds(10));
        await client.WaitForAsync(text => Pings(text) == upstreamPings + 1);

        foreach (var step in steps.Skip(5))
        {
            await WriteAsync(upstream.Writer, Frames(step));
        }

        await upstream.Writer.CompleteAsync();
        var attempt = await relaying;
        Assert.That(attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(client.Text, Does.Contain(steps[4].WireText!).And.EndsWith(steps[^1].WireText!));
    }

    [Test]
    public void Timers_AloneOnTheirClock_KeepAliveAtTheInterval_DeadlineAtItsTime()
    {
        var clock = new FakeTimeProvider();
        var client = new ObservedBody();
        var writer = PipeWriter.Create(client);
        using var timers = new StreamTimers(clock, TimeSpan.FromSeconds(10), new AnthropicPassthroughStream(Model), writer, CancellationToken.None);
        timers.StartKeepAlives();
        timers.BeginRead(TimeSpan.FromSeconds(25), firstContent: true);

        clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.That(Pings(client.Text), Is.Zero, "nothing before 10 s of silence");
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.That(Pings(client.Text), Is.EqualTo(1), "a keep-alive after 10 s of silence");
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.That(Pings(client.Text), Is.EqualTo(2), "and another 10 s later");
        Assert.That(timers.Deadline.IsCancellationRequested, Is.False, "20 s into a 25 s wait");
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.That(timers.Deadline.IsCancellationRequested, Is.True, "the read's deadline, 25 s");
        Assert.That(timers.FirstContentDeadline, Is.True);
    }

    [Test]
    public async Task KeepAlivesRacingATrickle_NeverSplitAnEvent()
    {
        // Keep-alives due every millisecond while events trickle in at random gaps around it: the timer and the relay
        // take turns at the client's writer, and every event arrives whole and in order.
        var upstream = new Pipe();
        var words = Enumerable.Range(0, 300).Select(i => $"w{i} ").ToArray();
        var steps = FakeAnthropic.TextStream(Model, string.Concat(words), words.Length).OfType<StreamStep.Frame>().ToList();
        var client = new ObservedBody();
        var relaying = RelayAsync(upstream.Reader.AsStream(), client, Call(TimeProvider.System, TimeSpan.FromMilliseconds(1)));
        var random = new Random(7);
        foreach (var (step, i) in steps.Select((step, i) => (step, i)))
        {
            await WriteAsync(upstream.Writer, Frames(step));
            if (random.Next(3) == 0)
            {
                await Task.Delay(random.Next(1, 4));
            }

            if (i == steps.Count / 2)
            {
                // One silence long enough for keep-alives whatever the gaps were: there is a timer to race.
                await Task.Delay(50);
            }
        }

        await upstream.Writer.CompleteAsync();
        var attempt = await relaying;
        var frames = client.Text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);

        Assert.That(attempt.Outcome, Is.EqualTo(AttemptOutcome.Completed));
        Assert.That(frames.Count(f => f.StartsWith("event: ping", StringComparison.Ordinal)), Is.GreaterThan(0), "the timer wrote keep-alives");
        Assert.That(frames, Has.All.Match(@"^event: [a-z_]+\ndata: \{.*\}$"), "every frame whole: an event line and one JSON data line");
        Assert.That(string.Concat(frames.Where(f => f.Contains("text_delta", StringComparison.Ordinal)).Select(f => TextOf().Match(f).Groups[1].Value)),
            Is.EqualTo(string.Concat(words)), "every delta, in order");
        Assert.That(frames.Where(f => !f.StartsWith("event: ping", StringComparison.Ordinal)).Select(f => f[..f.IndexOf('\n', StringComparison.Ordinal)]).Last(),
            Is.EqualTo("event: message_stop"));
    }

    private static async Task<AttemptResult> RelayAsync(Stream upstreamBody, ObservedBody client, UpstreamCall call)
    {
        using var upstream = EventStream(upstreamBody);
        using var attempt = new UpstreamAttempt(call.Time, Timeout.InfiniteTimeSpan, CancellationToken.None);
        var context = new DefaultHttpContext();
        context.Response.Body = client;
        await ResponseRelay.RelayAsync(context, upstream, call, attempt, CancellationToken.None);
        return attempt.Result();
    }

    private static ValueTask<FlushResult> WriteAsync(PipeWriter writer, string text) => writer.WriteAsync(Encoding.UTF8.GetBytes(text));

    private static int Pings(string text) => Regex.Count(text, "^event: ping$", RegexOptions.Multiline);

    [GeneratedRegex("\"text\":\"([^\"]*)\"")]
    private static partial Regex TextOf();

    /// <summary>An upstream body that tells when a read is waiting for bytes.</summary>
    private sealed class WatchedStream(Stream inner) : Stream
    {
        private volatile bool _waiting;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public async Task WaitUntilWaitingAsync()
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!_waiting)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the relay never waited for the upstream");
                await Task.Delay(5);
            }
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = inner.ReadAsync(buffer, cancellationToken);
            if (read.IsCompleted)
            {
                return await read;
            }

            _waiting = true;
            try
            {
                return await read;
            }
            finally
            {
                _waiting = false;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>The client's body, readable by the test while the relay writes it from other threads.</summary>
    private sealed class ObservedBody : Stream
    {
        private readonly Lock _gate = new();
        private readonly MemoryStream _bytes = new();
        private volatile bool _held;

        /// <summary>While set, a write waits for it to complete: a client that stopped reading.</summary>
        public Task? Hold { get; set; }

        public string Text
        {
            get
            {
                lock (_gate)
                {
                    return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
                }
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public async Task WaitForAsync(Func<string, bool> condition)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!condition(Text))
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the relay did not write what was expected in time:\n" + Text);
                await Task.Delay(5);
            }
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_gate)
            {
                _bytes.Write(buffer, offset, count);
            }
        }

        public async Task WaitUntilHeldAsync()
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!_held)
            {
                Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the relay never wrote to the held client");
                await Task.Delay(5);
            }
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Hold is { } hold)
            {
                _held = true;
                await hold;
            }

            lock (_gate)
            {
                _bytes.Write(buffer.Span);
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
