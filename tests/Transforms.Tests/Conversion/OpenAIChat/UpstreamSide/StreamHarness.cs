using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

public enum Delivery
{
    Whole,
    Trickle,
}

/// <summary>One Anthropic SSE frame as the client reads it.</summary>
public sealed record ClientEvent(string? Event, JsonObject Data)
{
    public string Type => (string)Data["type"]!;

    public override string ToString() => $"{Event}: {Data.ToJsonString()}";
}

/// <summary>
/// Runs upstream OpenAI SSE bytes through SseReader → ChatToMessagesStream → SseReader, like the proxy
/// does, and reassembles what an Anthropic SDK accumulator would build, checking the protocol on the way.
/// </summary>
public static class StreamHarness
{
    public const string MessageId = "msg_test0123456789";
    public const string Model = "claude-sonnet-4-6";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Upstream SSE: one <c>data:</c> frame per item.</summary>
    public static string Upstream(params string[] data) => string.Concat(data.Select(d => $"data: {d}\n\n"));

    public static Stream MakeStream(byte[] bytes, Delivery delivery) =>
        delivery == Delivery.Trickle ? new TrickleStream(bytes) : new WholeStream(bytes);

    public static async Task<byte[]> ConvertAsync(Stream upstream, ToolNameMap? toolNames = null, long estimate = 0, Action<IStreamConverter, IBufferWriter<byte>>? afterBegin = null)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var converter = new ChatToMessagesStream(Model, toolNames ?? ToolNameMap.Identity, estimate, MessageId);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        afterBegin?.Invoke(converter, output);
        await using (var reader = new SseReader(upstream))
        {
            while (await reader.ReadAsync(cts.Token) is { } sse)
            {
                converter.Convert(sse, output);
            }
        }

        converter.End(output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Synchronous variant for FsCheck: the test streams complete reads synchronously.</summary>
    public static byte[] Convert(Stream upstream) => ConvertAsync(upstream).GetAwaiter().GetResult();

    public static Task<byte[]> ConvertAsync(string upstreamSse, Delivery delivery, ToolNameMap? toolNames = null, long estimate = 0) =>
        ConvertAsync(MakeStream(Encoding.UTF8.GetBytes(upstreamSse), delivery), toolNames, estimate);

    public static async Task<List<ClientEvent>> ParseAsync(byte[] anthropicSse)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var events = new List<ClientEvent>();
        await using var reader = new SseReader(new MemoryStream(anthropicSse));
        while (await reader.ReadAsync(cts.Token) is { } sse)
        {
            Assert.That(sse.IsComment, Is.False, "the converter writes no comments to an Anthropic client");
            Assert.That(sse.Data, Is.Not.EqualTo("[DONE]"), "never [DONE] on /v1/messages (§8 #23)");
            var data = JsonNode.Parse(sse.Data)!.AsObject();
            events.Add(new ClientEvent(sse.EventType, data));
        }

        return events;
    }

    public static async Task<List<ClientEvent>> RunAsync(string upstreamSse, Delivery delivery = Delivery.Whole, ToolNameMap? toolNames = null, long estimate = 0) =>
        await ParseAsync(await ConvertAsync(upstreamSse, delivery, toolNames, estimate));

    /// <summary>The event names in order, with the delta type for content_block_delta.</summary>
    public static string[] Sequence(IEnumerable<ClientEvent> events) =>
        events.Select(e => e.Type == "content_block_delta" ? $"delta:{(string)e.Data["delta"]!["type"]!}"
            : e.Type == "content_block_start" ? $"start:{(string)e.Data["content_block"]!["type"]!}"
            : e.Type).ToArray();

    /// <summary>
    /// What an SDK accumulator builds from the events, asserting on the way: every frame has an event line
    /// equal to its type (§8 #32), block indexes are dense and start in order, deltas only target the open
    /// block (§8 #4), nothing follows message_stop or error.
    /// </summary>
    public static Reassembled Reassemble(IReadOnlyList<ClientEvent> events)
    {
        var result = new Reassembled();
        JsonObject? message = null;
        JsonArray? content = null;
        int? open = null;
        StringBuilder? partialJson = null;
        var ended = false;
        foreach (var e in events)
        {
            Assert.That(ended, Is.False, $"nothing may follow message_stop or error, got {e}");
            Assert.That(e.Event, Is.EqualTo(e.Type), "every frame has an event line equal to its JSON type");
            switch (e.Type)
            {
                case "message_start":
                    Assert.That(message, Is.Null, "one message_start");
                    message = e.Data["message"]!.DeepClone().AsObject();
                    content = message["content"]!.AsArray();
                    break;
                case "ping":
                    break;
                case "content_block_start":
                {
                    Assert.That(message, Is.Not.Null, "message_start first");
                    Assert.That(open, Is.Null, $"a block is still open: {e}");
                    var index = (int)e.Data["index"]!;
                    Assert.That(index, Is.EqualTo(content!.Count), "block indexes are dense and in order");
                    var block = e.Data["content_block"]!.DeepClone().AsObject();
                    content.Add(block);
                    open = index;
                    partialJson = (string)block["type"]! == "tool_use" ? new StringBuilder() : null;
                    if (partialJson is not null)
                    {
                        Assert.That(block["input"]!.ToJsonString(), Is.EqualTo("{}"), "tool input comes in deltas (§8 #2)");
                    }

                    break;
                }

                case "content_block_delta":
                {
                    var index = (int)e.Data["index"]!;
                    Assert.That(index, Is.EqualTo(open), $"a delta to a block that is not open (§8 #4): {e}");
                    var block = content![index]!.AsObject();
                    var delta = e.Data["delta"]!;
                    switch ((string)delta["type"]!)
                    {
                        case "text_delta":
                            Assert.That((string)block["type"]!, Is.EqualTo("text"));
                            block["text"] = (string)block["text"]! + (string)delta["text"]!;
                            break;
                        case "thinking_delta":
                            Assert.That((string)block["type"]!, Is.EqualTo("thinking"));
                            block["thinking"] = (string)block["thinking"]! + (string)delta["thinking"]!;
                            break;
                        case "signature_delta":
                            Assert.That((string)block["type"]!, Is.EqualTo("thinking"));
                            block["signature"] = (string)block["signature"]! + (string)delta["signature"]!;
                            break;
                        case "input_json_delta":
                            Assert.That((string)block["type"]!, Is.EqualTo("tool_use"));
                            partialJson!.Append((string)delta["partial_json"]!);
                            break;
                        default:
                            Assert.Fail($"unknown delta {e}");
                            break;
                    }

                    break;
                }

                case "content_block_stop":
                {
                    var index = (int)e.Data["index"]!;
                    Assert.That(index, Is.EqualTo(open), $"stop of a block that is not open: {e}");
                    if (partialJson is not null)
                    {
                        content![index]!["input"] = JsonNode.Parse(partialJson.ToString());
                    }

                    open = null;
                    partialJson = null;
                    break;
                }

                case "message_delta":
                    Assert.That(open, Is.Null, "blocks are closed before message_delta");
                    message!["stop_reason"] = e.Data["delta"]!["stop_reason"]!.DeepClone();
                    message["stop_sequence"] = e.Data["delta"]!["stop_sequence"]?.DeepClone();
                    foreach (var (key, value) in e.Data["usage"]!.AsObject())
                    {
                        message["usage"]![key] = value!.DeepClone();
                    }

                    result.SawMessageDelta = true;
                    break;
                case "message_stop":
                    Assert.That(result.SawMessageDelta, Is.True, "message_delta before message_stop");
                    result.Stopped = true;
                    ended = true;
                    break;
                case "error":
                    result.Error = e.Data["error"]!.AsObject();
                    ended = true;
                    break;
                default:
                    Assert.Fail($"unknown event {e}");
                    break;
            }
        }

        result.Message = message;
        return result;
    }
}

public sealed class Reassembled
{
    public JsonObject? Message { get; set; }

    public bool SawMessageDelta { get; set; }

    public bool Stopped { get; set; }

    public JsonObject? Error { get; set; }

    public JsonArray Content => Message!["content"]!.AsArray();
}
