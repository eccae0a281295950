using System.Buffers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Text;
using CcxProxy.Transforms.Conversion.Completions;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Time.Testing;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.Hub;

/// <summary>
/// The table of what converts to what: every pair the gateway serves has a route, and a pair with no direct
/// route is its two codecs chained through Messages. The chain is checked against the direct Completions → Chat
/// route, which does the same job by hand: what the chain sends upstream, and what the client gets back, whole,
/// streamed at every split of the upstream's bytes, or as an error.
/// </summary>
[TestFixture]
public sealed partial class ConversionTableTests
{
    private const string CompletionsRequest =
        """{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi","max_tokens":64,"temperature":0.5,"stop":["END"],"stream":true,"stream_options":{"include_usage":true}}""";

    private static ConversionContext Context(string upstreamModel = "deepseek-chat") => new()
    {
        ClientModel = "gpt-3.5-turbo-instruct",
        Options = new ConversionOptions { UpstreamModel = upstreamModel },
        Time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(StreamHarness.Created)),
        ChannelName = "deepseek",
        IncludeUsage = true,
    };

    private static ConversionRequest Request(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        return new ConversionRequest(body, body, RequestJson.Scan(body).Value());
    }

    private static ConversionRoute Direct(string json = CompletionsRequest) =>
        ConversionTable.Route(InboundApi.Completions, WireProtocol.OpenAI, Request(json), Context()).Value();

    private static ConversionRoute Chained(string json = CompletionsRequest) =>
        ConversionTable.ThroughHub(InboundApi.Completions, WireProtocol.OpenAI, Request(json), Context()).Value();

    // Two differences by design. The ids: the direct route keeps the upstream's, the chain makes its own. And the
    // chain always states the cached prompt tokens, as OpenAI itself does, where the direct route passes on what the
    // upstream said (here: nothing).
    private static string Normalised(string text) =>
        IdPattern().Replace(text, "\"id\":\"…\"").Replace(",\"prompt_tokens_details\":{\"cached_tokens\":0}", string.Empty, StringComparison.Ordinal);

    [GeneratedRegex("\"id\":\"[^\"]*\"")]
    private static partial Regex IdPattern();

    [TestCase(InboundApi.Messages, WireProtocol.Anthropic, "/v1/messages", true)]
    [TestCase(InboundApi.CountTokens, WireProtocol.Anthropic, "/v1/messages/count_tokens", true)]
    [TestCase(InboundApi.ChatCompletions, WireProtocol.OpenAI, "/chat/completions", true)]
    [TestCase(InboundApi.Messages, WireProtocol.OpenAI, "/chat/completions", false)]
    [TestCase(InboundApi.ChatCompletions, WireProtocol.Anthropic, "/v1/messages", false)]
    [TestCase(InboundApi.Completions, WireProtocol.Anthropic, "/v1/messages", false)]
    [TestCase(InboundApi.Completions, WireProtocol.OpenAI, "/chat/completions", false)]
    [TestCase(InboundApi.Responses, WireProtocol.Anthropic, "/v1/messages", false)]
    [TestCase(InboundApi.Responses, WireProtocol.OpenAI, "/chat/completions", false)]
    [TestCase(InboundApi.Responses, WireProtocol.Responses, "/responses", true)]
    public void EveryPairTheGatewayServes_HasARoute(InboundApi api, WireProtocol upstream, string path, bool keepsQuery)
    {
        var json = api switch
        {
            InboundApi.Completions => """{"model":"m","prompt":"hi"}""",
            InboundApi.Responses => """{"model":"m","input":"hi"}""",
            _ => """{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}""",
        };

        var route = ConversionTable.Route(api, upstream, Request(json), Context("upstream-model")).Value();

        Assert.That(ConversionTable.Serves(api, upstream), Is.True);
        Assert.That(route.UpstreamPath, Is.EqualTo(path));
        Assert.That(route.KeepQuery, Is.EqualTo(keepsQuery), "only a request forwarded as sent keeps the client's query");
        Assert.That((string?)JsonNode.Parse(route.Body.Span)!["model"], Is.EqualTo("upstream-model"));
    }

    [Test]
    public void CountTokens_OnAChatChannel_HasNoRoute()
    {
        // The gateway answers count_tokens itself for channels that cannot count; routing one there is a bug.
        Assert.That(ConversionTable.Serves(InboundApi.CountTokens, WireProtocol.OpenAI), Is.False);
        Assert.That(() => ConversionTable.Route(InboundApi.CountTokens, WireProtocol.OpenAI, Request("""{"model":"m","messages":[]}"""), Context()),
            Throws.InvalidOperationException);
    }

    [Test]
    public void ARefusal_OnTheClientSideOfTheChain_IsA400WithTheReason()
    {
        var refusal = ConversionTable.ThroughHub(InboundApi.Completions, WireProtocol.OpenAI, Request("""{"model":"m","prompt":[1,2,3]}"""), Context());

        Assert.That(refusal.Refusal(), Does.Contain("token"));
    }

    [Test]
    public void ARefusal_OnTheUpstreamSideOfTheChain_IsA400WithTheReason()
    {
        var refusal = ConversionTable.Chained(CompletionsToMessages.Codec, new RefusingUpstream(), Request(CompletionsRequest), Context());

        Assert.That(refusal.Refusal(), Is.EqualTo("this upstream cannot take that"));
    }

    [Test]
    public async Task ChainedStream_HandsTheClientSideEveryFrameAsSseReaderWouldReadIt()
    {
        // What a hub-side converter may write: multi-line data (an empty line among them), a comment, an event.
        var written = new ArrayBufferWriter<byte>();
        void Write(IBufferWriter<byte> output)
        {
            SseWriter.WriteEvent(output, "content_block_delta", "first\n\nthird");
            SseWriter.WriteComment(output, "keep-alive");
            SseWriter.WriteEvent(output, "message_stop", """{"type":"message_stop"}""");
        }

        Write(written);
        var expected = new List<SseEvent>();
        await using (var reader = new SseReader(new WholeStream(written.WrittenSpan.ToArray())))
        {
            while (await reader.ReadAsync(CancellationToken.None) is { } item)
            {
                expected.Add(item.Detach());
            }
        }

        var client = new RecordingConverter();
        var chained = new ChainedStreamConverter(new WritingConverter(Write), client);
        chained.Convert(new SseEvent(null, "{}", null, false), new ArrayBufferWriter<byte>());

        Assert.That(client.Seen.Select(e => (e.EventType, e.Data, e.IsComment)), Is.EqualTo(expected.Select(e => (e.EventType, e.Data, e.IsComment))));
        Assert.That(client.Seen[0].Data, Is.EqualTo("first\n\nthird"));
    }

    /// <summary>A hub-side converter that writes the same frames for every event it is given.</summary>
    private sealed class WritingConverter(Action<IBufferWriter<byte>> write) : IStreamConverter
    {
        public bool Finished => false;

        public StreamUsage Usage { get; } = new();

        public void Begin(IBufferWriter<byte> output)
        {
        }

        public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output) => write(output);

        public bool End(IBufferWriter<byte> output) => true;

        public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
        {
        }

        public void Ping(IBufferWriter<byte> output)
        {
        }
    }

    /// <summary>A client-side converter that keeps what it is handed.</summary>
    private sealed class RecordingConverter : IStreamConverter
    {
        public List<SseEvent> Seen { get; } = [];

        public bool Finished => false;

        public StreamUsage Usage { get; } = new();

        public void Begin(IBufferWriter<byte> output)
        {
        }

        public void Convert(in SseEvent upstreamEvent, IBufferWriter<byte> output) => Seen.Add(upstreamEvent.Detach());

        public bool End(IBufferWriter<byte> output) => true;

        public void Fail(string anthropicErrorType, string message, IBufferWriter<byte> output)
        {
        }

        public void Ping(IBufferWriter<byte> output)
        {
        }
    }

    /// <summary>An upstream codec that takes no request: what a protocol does with a request it cannot express.</summary>
    private sealed class RefusingUpstream : IUpstreamCodec
    {
        public WireProtocol Protocol => WireProtocol.OpenAI;

        public string Path(ConversionContext context, bool stream) => "/never";

        public GatewayResult<ConvertedRequest> FromMessages(ReadOnlySpan<byte> messagesRequest, ConversionContext context) =>
            ConvertedRequest.Refused("this upstream cannot take that");

        public byte[] AnswerToMessages(ReadOnlySpan<byte> answer, ToolNameMap toolNames, ConversionContext context) => throw new AssertionException("not reached");

        public IStreamConverter StreamToMessages(ToolNameMap toolNames, ConversionContext context) => throw new AssertionException("not reached");

        public (int Status, byte[] Body) ErrorToMessages(int status, ReadOnlySpan<byte> error, ConversionContext context) => throw new AssertionException("not reached");
    }

    [Test]
    public void Chained_SendsTheUpstreamWhatTheDirectRouteSends()
    {
        var direct = JsonNode.Parse(Direct().Body.Span)!.AsObject();
        var chained = JsonNode.Parse(Chained().Body.Span)!.AsObject();

        Assert.Multiple(() =>
        {
            Assert.That(chained["model"]!.ToJsonString(), Is.EqualTo(direct["model"]!.ToJsonString()));
            Assert.That(chained["messages"]!.ToJsonString(), Is.EqualTo(direct["messages"]!.ToJsonString()));
            Assert.That(chained["max_tokens"]!.ToJsonString(), Is.EqualTo(direct["max_tokens"]!.ToJsonString()));
            Assert.That(chained["temperature"]!.ToJsonString(), Is.EqualTo(direct["temperature"]!.ToJsonString()));
            Assert.That(chained["stop"]!.ToJsonString(), Is.EqualTo(direct["stop"]!.ToJsonString()));
            Assert.That(chained["stream"]!.ToJsonString(), Is.EqualTo("true"));
            Assert.That(chained["stream_options"]!.ToJsonString(), Is.EqualTo(direct["stream_options"]!.ToJsonString()));
        });
    }

    [Test]
    public void Chained_AnswersWhatTheDirectRouteAnswers()
    {
        var completion = """
            {"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"deepseek-chat",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"length"}],
             "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4}}}
            """u8.ToArray();

        var direct = Encoding.UTF8.GetString(Direct().Plan.ConvertJson(completion).Body.Span);
        var chained = Encoding.UTF8.GetString(Chained().Plan.ConvertJson(completion).Body.Span);

        Assert.That(Normalised(chained), Is.EqualTo(Normalised(direct)));
        Assert.That(chained, Does.Contain("Hi there"));
    }

    [Test]
    public void Chained_AnErrorObjectInA200_ReachesTheClientAsAnErrorInItsShape()
    {
        var chained = Chained().Plan.ConvertJson("""{"error":{"message":"model overloaded","type":"server_error"}}"""u8.ToArray());

        var error = JsonNode.Parse(chained.Body.Span)!["error"]!;
        Assert.That((string?)error["message"], Does.Contain("model overloaded"));
        Assert.That(chained.UpstreamFailed, Is.True, "an upstream failure: the relay sends it with 502");
    }

    [TestCase(429, """{"error":{"message":"Rate limit reached for deepseek-chat","type":"rate_limit_error"}}""")]
    [TestCase(400, """{"error":{"message":"max_tokens is too large","type":"invalid_request_error"}}""")]
    public void Chained_UpstreamErrors_KeepTheirStatusAndMessage(int status, string body)
    {
        var (directStatus, directBody) = Direct().Plan.MapError(status, Encoding.UTF8.GetBytes(body));
        var (chainedStatus, chainedBody) = Chained().Plan.MapError(status, Encoding.UTF8.GetBytes(body));

        Assert.That(chainedStatus, Is.EqualTo(directStatus));
        Assert.That((string?)JsonNode.Parse(chainedBody)!["error"]!["message"], Is.EqualTo((string?)JsonNode.Parse(directBody)!["error"]!["message"]));
    }

    private static byte[] ChatStream() => StreamHarness.DataOnly(
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}""",
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}""",
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"lo 👋 wörld"},"finish_reason":null}]}""",
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}""",
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}""",
        "[DONE]");

    private static async Task<string> TextOf(IStreamConverter converter, Stream upstream) =>
        string.Concat((await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, upstream)))
            .Where(data => data != "[DONE]")
            .Select(data => (string?)JsonNode.Parse(data)!["choices"]?.AsArray().FirstOrDefault()?["text"]));

    [Test]
    public async Task Chained_StreamsWhatTheDirectRouteStreams_AtEverySplitOfTheUpstreamBytes()
    {
        var upstream = ChatStream();
        var direct = await StreamHarness.DataAsync(await StreamHarness.RunAsync(Direct().Plan.CreateStreamConverter(), new WholeStream(upstream)));

        for (var k = 0; k <= upstream.Length; k++)
        {
            var converter = Chained().Plan.CreateStreamConverter();
            var chained = await StreamHarness.DataAsync(await StreamHarness.RunAsync(converter, ChunkedStream.SplitAt(upstream, k)));

            Assert.That(chained.Select(Normalised), Is.EqualTo(direct.Select(Normalised)), $"split at {k}");
            Assert.That(converter.Usage.OutputTokens, Is.EqualTo(5), "usage is the upstream's, as the hub read it");
        }

        Assert.That(await TextOf(Chained().Plan.CreateStreamConverter(), new TrickleStream(upstream)), Is.EqualTo("Hello 👋 wörld"));
    }

    [Test]
    public async Task Chained_AStreamCutBeforeItFinished_EndsInTheClientsErrorFrame_NeverDone()
    {
        var cut = StreamHarness.DataOnly(
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"deepseek-chat","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}""");
        var converter = Chained().Plan.CreateStreamConverter();
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        await using (var reader = new SseReader(new WholeStream(cut)))
        {
            while (await reader.ReadAsync(CancellationToken.None) is { } item)
            {
                converter.Convert(item, output);
            }
        }

        var complete = converter.End(output);
        var frames = await StreamHarness.DataAsync(output.WrittenSpan.ToArray());

        Assert.That(complete, Is.False);
        Assert.That(converter.Finished, Is.True);
        Assert.That(frames[^1], Does.StartWith("{\"error\":"));
        Assert.That(frames, Does.Not.Contain("[DONE]"));
    }

    [Test]
    public void Chained_KeepAlivesAndGatewayFailures_AreWrittenInTheClientsShape()
    {
        var converter = Chained().Plan.CreateStreamConverter();
        var output = new ArrayBufferWriter<byte>();

        converter.Ping(output);
        converter.Fail("overloaded_error", "the upstream went quiet", output);

        var text = Encoding.UTF8.GetString(output.WrittenSpan);
        Assert.That(text, Does.StartWith(": keep-alive\n\n"), "an OpenAI client's keep-alive is a comment, not Anthropic's ping event");
        Assert.That(text, Does.Contain("\"error\":").And.Contain("the upstream went quiet").And.Not.Contain("event:"));
    }
}
