using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Anthropic;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.Passthrough;

/// <summary>
/// The relays work on the events' UTF-8 bytes; these tests hold them byte-identical to the former
/// string-based relays (kept below as <see cref="Legacy"/>, the oracle), over whole and trickled reads.
/// </summary>
[TestFixture]
public sealed class PassthroughStreamTests
{
    private const string ClientModel = "claude-sonnet-4-5";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private static readonly string[] AnthropicStreams =
    [
        // A different model: rewritten (default encoder, so '+', '<' and non-ASCII are escaped as before).
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"note\":\"a+b <c> é 😀\",\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1,\"cache_read_input_tokens\":3}}}\n\n" +
        "event: ping\ndata: {\"type\": \"ping\"}\n\n: keep-alive\n\n" +
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"héllo \\\"q\\\" \\u00e9\"}}\n\n" +
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":7}}\n\n" +
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n" +
        "event: ping\ndata: {\"type\":\"ping\"}\n\n",

        // The client's model already: untouched bytes, whitespace and all.
        "event: message_start\ndata: { \"type\" : \"message_start\", \"message\" : { \"model\" : \"claude-sonnet-4-5\", \"usage\":{\"input_tokens\":5}} }\n\n" +
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",

        // No model, a null model, a number model, an escaped property name, not an object, not JSON.
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"usage\":{\"input_tokens\":2}},\"extra\":[1,2.50,true,null]}\n\nevent: message_stop\ndata: {}\n\n",
        "event: message_start\ndata: {\"message\":{\"model\":null,\"x\":1}}\n\nevent: message_stop\ndata: {}\n\n",
        "event: message_start\ndata: {\"message\":{\"model\":42,\"usage\":{\"input_tokens\":9}}}\n\nevent: message_stop\ndata: {}\n\n",
        "event: message_start\ndata: {\"message\":{\"mod\\u0065l\":\"other\",\"t\\u00e9\":\"\\ud83d\\ude00\"}}\n\nevent: message_stop\ndata: {}\n\n",
        "event: message_start\ndata: [1,2]\n\nevent: message_delta\ndata: \"x\"\n\nevent: message_stop\ndata: {}\n\n",
        "event: message_start\ndata: {not json\n\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":\"7\",\"input_tokens\":4}}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",

        // Multi-line data, an id, and a stream cut before message_stop.
        "event: content_block_delta\nid: 7\ndata: {\"a\":\ndata: 1}\n\n:comment\r\n\r\nevent: message_delta\ndata: {\"usage\":{\"output_tokens\":3}}\n\n",
    ];

    private static readonly string[] ChatStreams =
    [
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
        ": OPENROUTER PROCESSING\n\n" +
        "data: {\"id\":\"c1\",\"model\":\"gpt-4o-2024\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\\u00e9 \\\"x\\\" 😀 a+b\"},\"finish_reason\":null}]}\n\n" +
        "data: {\"id\":\"c1\",\"model\":\"" + ClientModel + "\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":4,\"prompt_tokens_details\":{\"cached_tokens\":10}}}\n\n" +
        "data: [DONE]\n\n",

        // Data split over lines (CRLF inside the JSON), an event name, a model with escapes, no [DONE] but finished.
        "event: chunk\r\ndata: {\"model\":\r\ndata:  \"m\\u0031\", \"choices\":[{\"finish_reason\":\"length\"}]}\r\n\r\n" +
        "data: {\"usage\":{\"prompt_tokens\":5,\"prompt_cache_hit_tokens\":2,\"completion_tokens\":1}, \"model\": \"x\"}\n\n",

        // An error object ends the relay; later chunks are dropped.
        "data: {\"model\":\"a\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\ndata: {\"model\":\"a\"}\n\n",

        // Empty chunks dropped; a model that is empty or blank; a [DONE] with spaces is not one (not finished: error at the end).
        "data:\n\ndata: {\"model\":\"\",\"choices\":[]}\n\ndata: {\"model\":\"  \"}\n\ndata:  [DONE] \n\n",

        // A chunk that is not JSON before the finish: the stream is broken there (an empty one is dropped).
        "data: not json\n\ndata:\n\ndata: {\"model\":\"\",\"choices\":[]}\n\ndata: {\"model\":\"  \"}\n\ndata:  [DONE] \n\n",
    ];

    private static IEnumerable<TestCaseData> AnthropicCases() =>
        AnthropicStreams.SelectMany((s, i) => new[] { false, true }.Select(t => new TestCaseData(i, t)));

    private static IEnumerable<TestCaseData> ChatCases() =>
        ChatStreams.SelectMany((s, i) => new[] { false, true }.Select(t => new TestCaseData(i, t)));

    [TestCaseSource(nameof(AnthropicCases))]
    public async Task AnthropicPassthrough_AnyStream_ByteIdenticalToStringRelay(int index, bool trickle)
    {
        var input = Encoding.UTF8.GetBytes(AnthropicStreams[index]);
        var relay = new AnthropicPassthroughStream(ClientModel);
        var legacy = new Legacy.Anthropic(ClientModel);

        var actual = await RunAsync(relay, input, trickle);
        var expected = await RunAsync(legacy, input, trickle);

        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetString(actual), Is.EqualTo(Encoding.UTF8.GetString(expected)));
            Assert.That(actual, Is.EqualTo(expected));
            Assert.That(relay.Finished, Is.EqualTo(legacy.Finished));
            AssertSameUsage(relay.Usage, legacy.Usage);
        });
    }

    [TestCaseSource(nameof(ChatCases))]
    public async Task ChatPassthrough_AnyStream_ByteIdenticalToStringRelay(int index, bool trickle)
    {
        var input = Encoding.UTF8.GetBytes(ChatStreams[index]);
        var relay = new ChatPassthroughStream(ClientModel);
        var legacy = new Legacy.Chat(ClientModel);

        var actual = await RunAsync(relay, input, trickle);
        var expected = await RunAsync(legacy, input, trickle);

        Assert.Multiple(() =>
        {
            Assert.That(Encoding.UTF8.GetString(actual), Is.EqualTo(Encoding.UTF8.GetString(expected)));
            Assert.That(actual, Is.EqualTo(expected));
            Assert.That(relay.Finished, Is.EqualTo(legacy.Finished));
            AssertSameUsage(relay.Usage, legacy.Usage);
        });
    }

    [TestCase("data: {\"model\":\"a\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[{\"del\n\ndata: {\"model\":\"a\"}\n\n",
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"message\":\"the upstream sent an event that is not valid JSON\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
        TestName = "ChatPassthrough_NotJsonBeforeTheFinish_EndsWithAnError_NotRelayed")]
    [TestCase("data: {\"model\":\"a\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: {garbled\n\ndata: [DONE]\n\n",
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        TestName = "ChatPassthrough_NotJsonAfterTheFinish_Dropped")]
    [TestCase("data: {\"model\":\"a\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[{\"finish_reason\":\"stop\"\n\n",
        "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"error\":{\"message\":\"the upstream sent an event that is not valid JSON\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
        TestName = "ChatPassthrough_ACutFinishChunk_IsNoFinish")]
    [TestCase("data: {\"model\":\"a\",\"choices\":[]}\n\ndata:\n\ndata: {\"model\":\"a\",\"choices\":[{\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        "data: {\"model\":\"m\",\"choices\":[]}\n\ndata: {\"model\":\"m\",\"choices\":[{\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
        TestName = "ChatPassthrough_EmptyChunk_Dropped")]
    public async Task ChatPassthrough_ChunksThatAreNotJson(string upstream, string expected)
    {
        var actual = await RunAsync(new ChatPassthroughStream("m"), Encoding.UTF8.GetBytes(upstream), trickle: false);

        Assert.That(Encoding.UTF8.GetString(actual), Is.EqualTo(expected));
    }

    [Test]
    public async Task ChatPassthrough_InvalidUtf8_RelayedAsTheStringRelayDid()
    {
        // The reader replaces invalid UTF-8 with U+FFFD, as decoding to a string and back did.
        var input = "data: {\"model\":\"a\",\"c\":\""u8.ToArray().Concat(new byte[] { 0xC3, 0x28, 0xFF }).Concat("\"}\n\n"u8.ToArray()).ToArray();

        var actual = await RunAsync(new ChatPassthroughStream(ClientModel), input, trickle: true);
        var expected = await RunAsync(new Legacy.Chat(ClientModel), input, trickle: true);

        Assert.That(actual, Is.EqualTo(expected));
    }

    [Test]
    public async Task AnthropicPassthrough_MessageStartWithOtherModel_ReportsClientModel()
    {
        var input = Encoding.UTF8.GetBytes(AnthropicStreams[0]);

        var output = Encoding.UTF8.GetString(await RunAsync(new AnthropicPassthroughStream(ClientModel), input, trickle: false));

        Assert.Multiple(() =>
        {
            Assert.That(output, Does.Contain("\"model\":\"" + ClientModel + "\""));
            Assert.That(output, Does.Not.Contain("claude-x"));
        });
    }

    private static void AssertSameUsage(StreamUsage actual, StreamUsage expected)
    {
        Assert.That(actual.InputTokens, Is.EqualTo(expected.InputTokens), "input");
        Assert.That(actual.OutputTokens, Is.EqualTo(expected.OutputTokens), "output");
        Assert.That(actual.CacheReadInputTokens, Is.EqualTo(expected.CacheReadInputTokens), "cache read");
        Assert.That(actual.CacheCreationInputTokens, Is.EqualTo(expected.CacheCreationInputTokens), "cache creation");
    }

    private static async Task<byte[]> RunAsync(IStreamConverter converter, byte[] input, bool trickle)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        await using (var reader = new SseReader(trickle ? new TrickleStream(input) : new WholeStream(input)))
        {
            while (!converter.Finished && await reader.ReadAsync(cts.Token).AsTask().WaitAsync(Timeout) is { } item)
            {
                converter.Convert(item, output);
            }
        }

        converter.End(output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The relays as they were before they worked on bytes (string data, JsonNode), as the oracle.</summary>
    private static class Legacy
    {
        public sealed class Anthropic(string clientModel) : IStreamConverter
        {
            public bool Finished { get; private set; }

            public StreamUsage Usage { get; } = new();

            public void Begin(IBufferWriter<byte> output)
            {
            }

            public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
            {
                if (Finished)
                {
                    return;
                }

                if (upstreamEvent.IsComment)
                {
                    SseWriter.WriteComment(output, upstreamEvent.Data);
                    return;
                }

                var data = upstreamEvent.Data;
                switch (upstreamEvent.EventType)
                {
                    case "message_start":
                        data = StartWithClientModel(data);
                        break;
                    case "message_delta":
                        ReadUsage(data, "usage");
                        break;
                    case "message_stop":
                    case "error":
                        Finished = true;
                        break;
                }

                SseWriter.WriteEvent(output, upstreamEvent.EventType, data);
            }

            public bool End(IBufferWriter<byte> output)
            {
                if (Finished)
                {
                    return true;
                }

                Fail("api_error", "the upstream closed the stream before message_stop", output);
                return false;
            }

            public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
            {
                StreamFrames.AnthropicError(output, anthropicErrorType, message);
                Finished = true;
            }

            public void Ping(IBufferWriter<byte> output) => StreamFrames.AnthropicPing(output);

            private string StartWithClientModel(string data)
            {
                try
                {
                    if (JsonNode.Parse(data) is JsonObject root && root["message"] is JsonObject message)
                    {
                        ReadUsage(message["usage"]);
                        if (message["model"]?.GetValue<string>() != clientModel)
                        {
                            message["model"] = clientModel;
                            return root.ToJsonString();
                        }
                    }
                }
                catch (Exception ex) when (ex is JsonException or InvalidOperationException)
                {
                }

                return data;
            }

            private void ReadUsage(string data, string property)
            {
                try
                {
                    ReadUsage(JsonNode.Parse(data)?[property]);
                }
                catch (Exception ex) when (ex is JsonException or InvalidOperationException)
                {
                }
            }

            private void ReadUsage(JsonNode? usage)
            {
                if (usage is not JsonObject u)
                {
                    return;
                }

                Usage.InputTokens = Read(u, "input_tokens") ?? Usage.InputTokens;
                Usage.OutputTokens = Read(u, "output_tokens") ?? Usage.OutputTokens;
                Usage.CacheReadInputTokens = Read(u, "cache_read_input_tokens") ?? Usage.CacheReadInputTokens;
                Usage.CacheCreationInputTokens = Read(u, "cache_creation_input_tokens") ?? Usage.CacheCreationInputTokens;
            }

            private static long? Read(JsonObject usage, string name) =>
                usage[name] is JsonValue v && v.TryGetValue(out long n) ? n : null;
        }

        public sealed class Chat(string clientModel) : IStreamConverter
        {
            private bool _sawFinish;

            public bool Finished { get; private set; }

            public StreamUsage Usage { get; } = new();

            public void Begin(IBufferWriter<byte> output)
            {
            }

            public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output)
            {
                if (Finished)
                {
                    return;
                }

                if (upstreamEvent.IsComment)
                {
                    SseWriter.WriteComment(output, upstreamEvent.Data);
                    return;
                }

                if (upstreamEvent.Data == "[DONE]")
                {
                    StreamFrames.OpenAIDone(output);
                    Finished = true;
                    return;
                }

                var bytes = Encoding.UTF8.GetBytes(upstreamEvent.Data);
                if (!RequestJson.IsJsonObject(bytes))
                {
                    // Since a frame that is not a chunk broke streams: the same rule, as the relay states it.
                    if (!_sawFinish && !SseData.TrimWhiteSpace(bytes).IsEmpty)
                    {
                        Fail("api_error", "the upstream sent an event that is not valid JSON", output);
                    }

                    return;
                }

                _sawFinish |= bytes.AsSpan().IndexOf("\"finish_reason\":\""u8) >= 0;
                if (bytes.AsSpan().IndexOf("\"error\""u8) >= 0 && ErrorObject(bytes))
                {
                    Finished = true;
                }

                if (bytes.AsSpan().IndexOf("\"usage\":{"u8) >= 0)
                {
                    ReadUsage(bytes);
                }

                SseWriter.WriteEvent(output, upstreamEvent.EventType, RequestJson.ReplaceModelIfPresent(bytes, clientModel).Span);
            }

            public bool End(IBufferWriter<byte> output)
            {
                if (Finished)
                {
                    return true;
                }

                if (_sawFinish)
                {
                    StreamFrames.OpenAIDone(output);
                    Finished = true;
                    return true;
                }

                Fail("api_error", "the upstream stream ended before it finished", output);
                return false;
            }

            public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
            {
                StreamFrames.OpenAIError(output, anthropicErrorType, message);
                Finished = true;
            }

            public void Ping(IBufferWriter<byte> output) => StreamFrames.OpenAIPing(output);

            private void ReadUsage(byte[] chunk)
            {
                try
                {
                    using var doc = JsonDocument.Parse(chunk);
                    if (!doc.RootElement.TryGetProperty("usage", out var usage) || usage.ValueKind != JsonValueKind.Object)
                    {
                        return;
                    }

                    var prompt = Number(usage, "prompt_tokens");
                    var cached = usage.TryGetProperty("prompt_tokens_details", out var details) && details.ValueKind == JsonValueKind.Object
                        ? Number(details, "cached_tokens")
                        : Number(usage, "prompt_cache_hit_tokens");
                    Usage.CacheReadInputTokens = cached;
                    Usage.InputTokens = Math.Max(0, prompt - cached);
                    Usage.OutputTokens = Number(usage, "completion_tokens");
                }
                catch (JsonException)
                {
                }
            }

            private static long Number(JsonElement element, string name) =>
                element.TryGetProperty(name, out var value) && value.TryGetInt64(out var n) ? n : 0;

            private static bool ErrorObject(byte[] chunk)
            {
                try
                {
                    using var doc = JsonDocument.Parse(chunk);
                    return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out _);
                }
                catch (JsonException)
                {
                    return false;
                }
            }
        }
    }
}
