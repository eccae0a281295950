using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIResponses;

/// <summary>
/// A Responses upstream relayed to a Responses client: the events as they came, but for the client's model name in
/// the response objects; the final response handed over to be kept, its usage read; a cut stream ends in an error
/// event that follows on from the upstream's sequence numbers.
/// </summary>
[TestFixture]
public sealed class ResponsesPassthroughStreamTests
{
    private static byte[] Upstream(IEnumerable<StreamStep> steps) => Encoding.UTF8.GetBytes(string.Concat(steps.Select(s => s.WireText)));

    private static readonly byte[] s_answer = Upstream(FakeResponses.Stream("gpt-5-2026",
        [FakeResponses.Item.Message("Hello 👋 there"), FakeResponses.Item.FunctionCall("call_1", "exec_command", """{"cmd":"ls"}""")], inputTokens: 30));

    [Test]
    public async Task EventsPassAsTheyCame_ButTheResponseObjectsCarryTheClientsModel()
    {
        byte[]? kept = null;
        var converter = new ResponsesPassthroughStream("gpt-5", answer => kept = answer);

        var output = await StreamHarness.RunAsync(converter, new WholeStream(s_answer));
        var events = await StreamHarness.ParseAsync(output);
        var upstream = await StreamHarness.ParseAsync(s_answer);

        Assert.That(events.Select(e => e.EventType), Is.EqualTo(upstream.Select(e => e.EventType)));
        for (var i = 0; i < events.Count; i++)
        {
            var data = JsonNode.Parse(events[i].Data)!;
            if (data["response"] is JsonObject response)
            {
                Assert.That(response["model"]!.GetValue<string>(), Is.EqualTo("gpt-5"), events[i].EventType);
            }
            else
            {
                Assert.That(events[i].Data, Is.EqualTo(upstream[i].Data), "byte for byte: " + events[i].EventType);
            }
        }

        Assert.That(converter.Finished, Is.True);
        Assert.That(converter.Usage.OutputTokens, Is.EqualTo(9));
        Assert.That(converter.Usage.InputTokens, Is.EqualTo(30));
        Assert.That(JsonNode.Parse(kept!)!["model"]!.GetValue<string>(), Is.EqualTo("gpt-5"));
        Assert.That(JsonNode.Parse(kept!)!["output"]!.AsArray(), Has.Count.EqualTo(2));
    }

    [Test]
    public async Task AnySplitOfTheUpstreamBytes_GivesTheSameOutput()
    {
        var whole = await StreamHarness.RunAsync(new ResponsesPassthroughStream("gpt-5", null), new WholeStream(s_answer));

        for (var k = 0; k <= s_answer.Length; k += 7)
        {
            var split = await StreamHarness.RunAsync(new ResponsesPassthroughStream("gpt-5", null), ChunkedStream.SplitAt(s_answer, k));
            Assert.That(split, Is.EqualTo(whole), $"split at {k}");
        }
    }

    [Test]
    public async Task CutBeforeItsEnd_AnErrorEventFollowsTheUpstreamsNumbering_AndNothingIsKept()
    {
        var steps = FakeResponses.Stream("gpt-5-2026", [FakeResponses.Item.Message("Half of it")]).ToList();
        var cut = Upstream(steps.Take(4));
        byte[]? kept = null;
        var converter = new ResponsesPassthroughStream("gpt-5", answer => kept = answer);

        var output = await StreamHarness.RunAsync(converter, new WholeStream(cut));
        var events = await StreamHarness.ParseAsync(output);
        var last = JsonNode.Parse(events[^1].Data)!;

        Assert.That(events[^1].EventType, Is.EqualTo("error"));
        Assert.That(last["sequence_number"]!.GetValue<long>(), Is.EqualTo(4));
        Assert.That(last["message"]!.GetValue<string>(), Does.Contain("ended before"));
        Assert.That(kept, Is.Null);
    }
}
