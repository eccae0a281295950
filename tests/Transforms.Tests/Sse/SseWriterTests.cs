using System.Buffers;
using System.Text;
using CcxProxy.Transforms.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Sse;

[TestFixture]
public sealed class SseWriterTests
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(10);

    [Test]
    public void WriteEvent_SimpleEvent_WritesExactBytes()
    {
        var chars = new ArrayBufferWriter<byte>();
        var bytes = new ArrayBufferWriter<byte>();

        SseWriter.WriteEvent(chars, "message_start", """{"type":"message_start"}""".AsSpan());
        SseWriter.WriteEvent(bytes, "message_start", """{"type":"message_start"}"""u8);

        const string Expected = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
        Assert.Multiple(() =>
        {
            Assert.That(Text(chars), Is.EqualTo(Expected));
            Assert.That(Text(bytes), Is.EqualTo(Expected));
        });
    }

    [Test]
    public void WriteEvent_NullOrEmptyType_WritesNoEventLine()
    {
        var nullType = new ArrayBufferWriter<byte>();
        var emptyType = new ArrayBufferWriter<byte>();

        SseWriter.WriteEvent(nullType, null, "[DONE]"u8);
        SseWriter.WriteEvent(emptyType, string.Empty, "[DONE]".AsSpan());

        Assert.Multiple(() =>
        {
            Assert.That(Text(nullType), Is.EqualTo("data: [DONE]\n\n"));
            Assert.That(Text(emptyType), Is.EqualTo("data: [DONE]\n\n"));
        });
    }

    [Test]
    public void WriteEvent_DataWithLineEndings_SplitIntoDataLines()
    {
        var chars = new ArrayBufferWriter<byte>();
        var bytes = new ArrayBufferWriter<byte>();

        SseWriter.WriteEvent(chars, "t", "a\r\nb\rc\nd\n".AsSpan());
        SseWriter.WriteEvent(bytes, "t", "a\r\nb\rc\nd\n"u8);

        const string Expected = "event: t\ndata: a\ndata: b\ndata: c\ndata: d\ndata: \n\n";
        Assert.Multiple(() =>
        {
            Assert.That(Text(chars), Is.EqualTo(Expected));
            Assert.That(Text(bytes), Is.EqualTo(Expected));
        });
    }

    [Test]
    public void WriteEvent_EmptyData_WritesOneEmptyDataLine()
    {
        var writer = new ArrayBufferWriter<byte>();

        SseWriter.WriteEvent(writer, null, ReadOnlySpan<byte>.Empty);

        Assert.That(Text(writer), Is.EqualTo("data: \n\n"));
    }

    [Test]
    public void WriteEvent_TypeWithLineEnding_ThrowsArgumentException()
    {
        var writer = new ArrayBufferWriter<byte>();

        Assert.Multiple(() =>
        {
            Assert.That(() => SseWriter.WriteEvent(writer, "a\nb", "x"u8), Throws.ArgumentException);
            Assert.That(() => SseWriter.WriteEvent(writer, "a\rb", "x".AsSpan()), Throws.ArgumentException);
        });
    }

    [Test]
    public void WriteComment_Text_WritesColonSpaceTextAndBlankLine()
    {
        var single = new ArrayBufferWriter<byte>();
        var multi = new ArrayBufferWriter<byte>();

        SseWriter.WriteComment(single, "keep-alive");
        SseWriter.WriteComment(multi, "a\r\nb");

        Assert.Multiple(() =>
        {
            Assert.That(Text(single), Is.EqualTo(": keep-alive\n\n"));
            Assert.That(Text(multi), Is.EqualTo(": a\n: b\n\n"));
        });
    }

    [Test]
    public async Task WriteComment_ReadBack_ReturnsComment()
    {
        var writer = new ArrayBufferWriter<byte>();
        SseWriter.WriteComment(writer, "keep-alive");

        var events = await SseReaderTests.ReadAllAsync(new WholeStream(writer.WrittenSpan.ToArray()));

        Assert.That(events, Is.EqualTo(new[] { new SseEvent(null, "keep-alive", null, IsComment: true) }));
    }

    [Test]
    public async Task WriteEvent_RandomStrings_ReadBackUnchanged()
    {
        // Property-style: whatever the payload, write then read gives the same event, with every
        // line ending normalized to "\n" (the SSE data model has no other).
        var random = new Random(20240917);
        var expected = new List<SseEvent>();
        var writer = new ArrayBufferWriter<byte>();
        for (var i = 0; i < 400; i++)
        {
            var type = random.Next(3) == 0 ? null : RandomType(random);
            var data = RandomText(random);
            if (i % 2 == 0)
            {
                SseWriter.WriteEvent(writer, type, data.AsSpan());
            }
            else
            {
                SseWriter.WriteEvent(writer, type, Encoding.UTF8.GetBytes(data));
            }

            expected.Add(new SseEvent(type, Normalize(data), null, IsComment: false));
        }

        var bytes = writer.WrittenSpan.ToArray();
        var chunks = Enumerable.Range(0, bytes.Length).Select(_ => random.Next(1, 40)).ToArray();

        var whole = await SseReaderTests.ReadAllAsync(new WholeStream(bytes));
        var chunked = await SseReaderTests.ReadAllAsync(new ChunkedStream(bytes, chunks));

        Assert.Multiple(() =>
        {
            Assert.That(whole, Is.EqualTo(expected));
            Assert.That(chunked, Is.EqualTo(expected));
        });
    }

    [Test]
    public async Task WriteEventAsync_Event_WritesFrameAndFlushes()
    {
        using var stream = new FlushCountingStream();
        using var cts = new CancellationTokenSource(TestTimeout);

        await SseWriter.WriteEventAsync(stream, "message_stop", """{"type":"message_stop"}"""u8.ToArray(), cts.Token)
            .AsTask().WaitAsync(TestTimeout);

        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetString(stream.ToArray()), Is.EqualTo("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
            Assert.That(stream.Flushes, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task WriteEventAsync_LargePayload_WritesWholeFrame()
    {
        using var stream = new FlushCountingStream();
        using var cts = new CancellationTokenSource(TestTimeout);
        var payload = Encoding.UTF8.GetBytes(new string('x', 100_000) + "\n" + new string('y', 10));

        await SseWriter.WriteEventAsync(stream, null, payload, cts.Token).AsTask().WaitAsync(TestTimeout);

        Assert.That(
            Encoding.UTF8.GetString(stream.ToArray()),
            Is.EqualTo("data: " + new string('x', 100_000) + "\ndata: " + new string('y', 10) + "\n\n"));
    }

    private static string Text(ArrayBufferWriter<byte> writer) => Encoding.UTF8.GetString(writer.WrittenSpan);

    private static string Normalize(string data) =>
        data.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');

    private static string RandomType(Random random)
    {
        const string Letters = "abcdefghijklmnopqrstuvwxyz_.";
        var length = random.Next(1, 20);
        return string.Create(length, random, (span, r) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                span[i] = Letters[r.Next(Letters.Length)];
            }
        });
    }

    private static string RandomText(Random random)
    {
        // Pieces that stress the format: line endings of all kinds, colons and spaces at line
        // starts, JSON, multi-byte text and surrogate pairs (kept whole so the string is valid UTF-16).
        string[] pieces =
        [
            "\n", "\r\n", "\r", ":", " ", "data: ", "event: x", "{\"a\":1}", "[DONE]", "abc", "你好", "世界",
            "🎉", "👍🏽", "é", "\t", "\u0000", "id: 7",
        ];
        var builder = new StringBuilder();
        var count = random.Next(0, 12);
        for (var i = 0; i < count; i++)
        {
            builder.Append(pieces[random.Next(pieces.Length)]);
        }

        return builder.ToString();
    }

    private sealed class FlushCountingStream : MemoryStream
    {
        public int Flushes { get; private set; }

        public override Task FlushAsync(CancellationToken cancellationToken)
        {
            Flushes++;
            return base.FlushAsync(cancellationToken);
        }
    }
}
