using System.Text;
using CcxProxy.Transforms.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Sse;

[TestFixture]
public sealed class SseReaderTests
{
    public enum Delivery
    {
        Whole,
        Trickle,
    }

    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(10);

    private static readonly (string Name, string Value)[] Newlines = [("LF", "\n"), ("CRLF", "\r\n"), ("CR", "\r")];

    /// <summary>Every case runs over LF / CRLF / CR line endings × a whole stream and a one-byte trickle.</summary>
    public static IEnumerable<TestCaseData> Modes()
    {
        foreach (var (name, _) in Newlines)
        {
            foreach (var delivery in new[] { Delivery.Whole, Delivery.Trickle })
            {
                yield return new TestCaseData(name, delivery);
            }
        }
    }

    /// <summary>LF / CRLF / CR alone, for cases that choose their own read boundaries.</summary>
    public static IEnumerable<TestCaseData> NewlineNames() => Newlines.Select(n => new TestCaseData(n.Name));

    private static SseEvent Event(string? type, string data, string? id = null) => new(type, data, id, IsComment: false);

    private static SseEvent Comment(string text) => new(null, text, null, IsComment: true);

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_MultipleEvents_ReturnsEachInOrder(string newline, Delivery delivery)
    {
        var events = await ParseAsync("event: a\ndata: 1\n\nevent: b\ndata: 2\n\ndata: 3\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event("a", "1"), Event("b", "2"), Event(null, "3") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_MultiLineData_JoinsLinesWithLf(string newline, Delivery delivery)
    {
        var events = await ParseAsync("data: line1\ndata: line2\ndata:\ndata: line4\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "line1\nline2\n\nline4") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_EventWithoutType_HasNullEventType(string newline, Delivery delivery)
    {
        var events = await ParseAsync("data: {\"x\":1}\n\nevent:\ndata: y\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "{\"x\":1}"), Event(null, "y") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_Comments_ReturnedAsCommentsWithoutColonAndOneSpace(string newline, Delivery delivery)
    {
        var events = await ParseAsync(": keep-alive\n:no-space\n:  two spaces\n:\n\ndata: a\n: inside\ndata: b\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[]
        {
            Comment("keep-alive"), Comment("no-space"), Comment(" two spaces"), Comment(string.Empty),
            Comment("inside"), Event(null, "a\nb"),
        }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_FieldWithoutSpace_ValueKeptWhole(string newline, Delivery delivery)
    {
        var events = await ParseAsync("event:t\ndata:x\n\ndata:  two\n\ndata:a:b\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event("t", "x"), Event(null, " two"), Event(null, "a:b") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_FieldWithoutColon_IsFieldWithEmptyValue(string newline, Delivery delivery)
    {
        var events = await ParseAsync("data\n\ndata\ndata\n\nevent\ndata: x\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, string.Empty), Event(null, "\n"), Event(null, "x") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_Id_SetOnItsFrameOnly(string newline, Delivery delivery)
    {
        var events = await ParseAsync("id: 42\ndata: x\n\ndata: y\n\nid: a\0b\ndata: z\n\nid\ndata: w\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[]
        {
            Event(null, "x", "42"), Event(null, "y"), Event(null, "z"), Event(null, "w", string.Empty),
        }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_RetryAndUnknownFields_Ignored(string newline, Delivery delivery)
    {
        var events = await ParseAsync("retry: 1000\n\nretry: 5\nfoo: bar\nDATA: upper\ndata: x\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "x") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_LeadingBom_Skipped(string newline, Delivery delivery)
    {
        var events = await ParseAsync("\uFEFFdata: x\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "x") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_SecondBom_IsPartOfFieldName(string newline, Delivery delivery)
    {
        // Only one leading BOM is ignored; after it, "\uFEFFdata" is an unknown field.
        var events = await ParseAsync("\uFEFF\uFEFFdata: x\n\ndata: y\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "y") }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_FinalFrameWithoutBlankLine_StillReturned(string newline, Delivery delivery)
    {
        var withoutEnding = await ParseAsync("data: a\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}", newline, delivery);
        var withOneEnding = await ParseAsync("data: a\n\ndata: b\n", newline, delivery);
        var commentLast = await ParseAsync("data: a\n: bye", newline, delivery);

        Assert.Multiple(() =>
        {
            Assert.That(withoutEnding, Is.EqualTo(new[] { Event(null, "a"), Event("message_stop", "{\"type\":\"message_stop\"}") }));
            Assert.That(withOneEnding, Is.EqualTo(new[] { Event(null, "a"), Event(null, "b") }));
            Assert.That(commentLast, Is.EqualTo(new[] { Comment("bye"), Event(null, "a") }));
        });
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_EmptyStream_ReturnsNull(string newline, Delivery delivery)
    {
        var events = await ParseAsync(string.Empty, newline, delivery);

        Assert.That(events, Is.Empty);
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_OnlyBlankLines_ReturnsNothing(string newline, Delivery delivery)
    {
        var events = await ParseAsync("\n\n\n\n", newline, delivery);

        Assert.That(events, Is.Empty);
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_EventTypeWithoutData_DispatchedWithEmptyData(string newline, Delivery delivery)
    {
        var events = await ParseAsync("event: ping\n\nid: 1\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event("ping", string.Empty) }));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_DoneMarker_IsOrdinaryDataEvent(string newline, Delivery delivery)
    {
        var events = await ParseAsync("data: [DONE]\n\n", newline, delivery);

        Assert.That(events, Is.EqualTo(new[] { Event(null, "[DONE]") }));
    }

    [TestCaseSource(nameof(NewlineNames))]
    public async Task ReadAsync_MultiByteTextSplitAtEveryOffset_DecodedIntact(string newline)
    {
        const string Text = "event: 事件\ndata: 你好，世界 🎉👍🏽 é\ndata: 日本語\n\n: 注释 😀\ndata: 末尾🙂";
        var bytes = Encode(Text, NewlineValue(newline));
        var expected = new[] { Event("事件", "你好，世界 🎉👍🏽 é\n日本語"), Comment("注释 😀"), Event(null, "末尾🙂") };

        for (var k = 0; k <= bytes.Length; k++)
        {
            var events = await ReadAllAsync(ChunkedStream.SplitAt(bytes, k));

            Assert.That(events, Is.EqualTo(expected), $"split at byte {k}");
        }
    }

    [Test]
    public async Task ReadAsync_CrAtEndOfReadThenLfAtStartOfNext_IsOneLineEnding()
    {
        // If the split CRLF counted as two endings, the blank line between them would dispatch "a" alone.
        var bytes = Encode("data: a\ndata: b\n\ndata: c\n\n", "\r\n");
        var crIndex = Array.IndexOf(bytes, (byte)'\r');

        var split = await ReadAllAsync(ChunkedStream.SplitAt(bytes, crIndex + 1));
        var everyOffset = new List<List<SseEvent>>();
        for (var k = 0; k <= bytes.Length; k++)
        {
            everyOffset.Add(await ReadAllAsync(ChunkedStream.SplitAt(bytes, k)));
        }

        Assert.Multiple(() =>
        {
            Assert.That(split, Is.EqualTo(new[] { Event(null, "a\nb"), Event(null, "c") }));
            Assert.That(everyOffset, Has.All.EqualTo(new[] { Event(null, "a\nb"), Event(null, "c") }));
        });
    }

    [Test]
    public async Task ReadAsync_NothingBuffered_WaitsWithAZeroByteRead_HoldingNoBuffer()
    {
        // Thousands of quiet streams each waiting with a 4 KiB buffer in hand is megabytes held for nothing: the
        // reader waits with a zero-byte read (as Kestrel and YARP do) and takes a buffer only when bytes are there.
        var stream = new GatedStream(Encoding.UTF8.GetBytes("data: a\n\n"));
        await using var reader = new SseReader(stream);
        using var cts = new CancellationTokenSource(TestTimeout);

        var pending = reader.ReadAsync(cts.Token).AsTask();
        await stream.Waiting.WaitAsync(TestTimeout);

        Assert.That(pending.IsCompleted, Is.False);
        Assert.That(stream.ReadSizes, Is.EqualTo(new[] { 0 }), "only a zero-byte read while nothing has come");
        stream.Open();
        Assert.That(await pending.WaitAsync(TestTimeout), Is.EqualTo(Event(null, "a")));
        Assert.That(stream.ReadSizes[1], Is.GreaterThan(0));
    }

    [TestCaseSource(nameof(NewlineNames))]
    public async Task ReadAsync_FrameEndsAtEndOfRead_ReturnedWithoutWaitingForMoreBytes(string newline)
    {
        // An idle upstream must not delay an event whose blank line has arrived, even when that
        // blank line is a CR that a later LF could still extend.
        await using var reader = new SseReader(new StallingStream(Encode("data: a\n\n", NewlineValue(newline))));
        using var cts = new CancellationTokenSource(TestTimeout);

        var first = await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout);

        Assert.That(first, Is.EqualTo(Event(null, "a")));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_EventLargerThanLimit_ThrowsSseFormatException(string newline, Delivery delivery)
    {
        var nl = NewlineValue(newline);
        var oneLongLine = Encode("data: " + new string('x', 100) + "\n\n", nl);
        var manyLines = Encode(string.Concat(Enumerable.Repeat("data: 0123456789\n", 10)) + "\n", nl);
        var unterminated = Encode("data: " + new string('x', 100), nl);

        // Awaited one by one: unawaited inside a synchronous Assert.Multiple these passed whatever happened.
        await Assert.ThrowsAsync<SseFormatException>(() => ReadAllAsync(Open(oneLongLine, delivery), maxEventBytes: 64));
        await Assert.ThrowsAsync<SseFormatException>(() => ReadAllAsync(Open(manyLines, delivery), maxEventBytes: 64));
        await Assert.ThrowsAsync<SseFormatException>(() => ReadAllAsync(Open(unterminated, delivery), maxEventBytes: 64));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_ManyEventsEachUnderLimit_AllReturned(string newline, Delivery delivery)
    {
        // The limit is per event: the total stream may be far larger.
        var text = string.Concat(Enumerable.Range(0, 50).Select(i => $"data: {i:D50}\n\n"));

        var events = await ParseAsync(text, newline, delivery, maxEventBytes: 64);

        Assert.That(events.Select(e => e.Data), Is.EqualTo(Enumerable.Range(0, 50).Select(i => i.ToString("D50", System.Globalization.CultureInfo.InvariantCulture))));
    }

    [Test]
    public async Task ReadAsync_EventLargerThanInitialBuffer_ReturnedWhole()
    {
        var payload = string.Concat(Enumerable.Range(0, 20_000).Select(i => (char)('a' + (i % 26))));
        var bytes = Encode($": c\ndata: {payload}\ndata: {payload}\n\ndata: end\n\n", "\n");

        var whole = await ReadAllAsync(new WholeStream(bytes));
        var chunked = await ReadAllAsync(new ChunkedStream(bytes, Enumerable.Repeat(1000, 100).ToArray()));

        var expected = new[] { Comment("c"), Event(null, payload + "\n" + payload), Event(null, "end") };
        Assert.Multiple(() =>
        {
            Assert.That(whole, Is.EqualTo(expected));
            Assert.That(chunked, Is.EqualTo(expected));
        });
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_AnthropicStream_ParsesToExpectedSequence(string newline, Delivery delivery)
    {
        string[] json =
        [
            """{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-5","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}""",
            """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}""",
            """{"type": "ping"}""",
            """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}""",
            """{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", 世界!"}}""",
            """{"type":"content_block_stop","index":0}""",
            """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}""",
            """{"type":"message_stop"}""",
        ];
        string[] types =
        [
            "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
            "content_block_stop", "message_delta", "message_stop",
        ];
        var text = string.Concat(types.Zip(json, (t, j) => $"event: {t}\ndata: {j}\n\n"));

        var events = await ParseAsync(text, newline, delivery);

        Assert.That(events, Is.EqualTo(types.Zip(json, (t, j) => Event(t, j))));
    }

    [TestCaseSource(nameof(Modes))]
    public async Task ReadAsync_OpenAiStream_ParsesToExpectedSequence(string newline, Delivery delivery)
    {
        string[] json =
        [
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""",
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}""",
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""",
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}""",
        ];
        var text = ": OPENROUTER PROCESSING\n\n" + string.Concat(json.Select(j => $"data: {j}\n\n")) + "data: [DONE]\n\n";

        var events = await ParseAsync(text, newline, delivery);

        var expected = new[] { Comment("OPENROUTER PROCESSING") }
            .Concat(json.Select(j => Event(null, j)))
            .Append(Event(null, "[DONE]"));
        Assert.That(events, Is.EqualTo(expected));
    }

    [Test]
    public async Task ReadAsync_AfterEndOfStream_KeepsReturningNull()
    {
        await using var reader = new SseReader(new WholeStream(Encode("data: a", "\n")));
        using var cts = new CancellationTokenSource(TestTimeout);

        var first = await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout);
        var second = await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout);
        var third = await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout);

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(Event(null, "a")));
            Assert.That(second, Is.Null);
            Assert.That(third, Is.Null);
        });
    }

    [Test]
    public async Task ReadAsync_Cancelled_ThrowsOperationCanceled()
    {
        await using var reader = new SseReader(new StallingStream([]));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        Assert.That(
            async () => await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout),
            Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task DisposeAsync_LeavesStreamOpen()
    {
        using var stream = new MemoryStream(Encode("data: a\n\n", "\n"));
        var reader = new SseReader(stream);

        await reader.DisposeAsync().AsTask().WaitAsync(TestTimeout);

        Assert.Multiple(() =>
        {
            Assert.That(stream.CanRead, Is.True);
            Assert.That(async () => await reader.ReadAsync(CancellationToken.None), Throws.InstanceOf<ObjectDisposedException>());
        });
    }

    internal static byte[] Encode(string text, string newline) =>
        Encoding.UTF8.GetBytes(newline == "\n" ? text : text.Replace("\n", newline, StringComparison.Ordinal));

    internal static async Task<List<SseEvent>> ReadAllAsync(Stream stream, int maxEventBytes = 16 * 1024 * 1024)
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        await using var reader = new SseReader(stream, maxEventBytes);
        var events = new List<SseEvent>();
        while (await reader.ReadAsync(cts.Token).AsTask().WaitAsync(TestTimeout) is { } item)
        {
            // The event borrows the reader's buffer until the next read: keep a copy.
            events.Add(item.Detach());
        }

        return events;
    }

    private static string NewlineValue(string name) => Newlines.Single(n => n.Name == name).Value;

    private static Stream Open(byte[] bytes, Delivery delivery) =>
        delivery == Delivery.Trickle ? new TrickleStream(bytes) : new WholeStream(bytes);

    private static Task<List<SseEvent>> ParseAsync(string text, string newlineName, Delivery delivery, int maxEventBytes = 16 * 1024 * 1024)
    {
        return ReadAllAsync(Open(Encode(text, NewlineValue(newlineName)), delivery), maxEventBytes);
    }
}
