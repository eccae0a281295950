using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Conversion.Gemini;
using CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;
using CcxProxy.Transforms.Tests.Sse;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.Gemini;

/// <summary>
/// A Gemini stream relayed to a Gemini client: chunks byte for byte, in the framing the client asked for, ending at the
/// finish (or a blocked prompt) with the answer's usage read, and with Google's error when it was cut.
/// </summary>
[TestFixture]
public sealed class GeminiPassthroughStreamTests
{
    private static byte[] Upstream(IEnumerable<StreamStep> steps) => Encoding.UTF8.GetBytes(string.Concat(steps.Select(s => s.WireText)));

    private static readonly byte[] s_answer = Upstream(FakeGemini.Stream(
        [FakeGemini.Part.Say("finishReason"), FakeGemini.Part.Call("run", """{"finishReason":"x"}""", signature: "c2ln+/=")], promptTokens: 90, outputTokens: 4, cachedTokens: 60));

    [Test]
    public async Task Sse_ChunksByteForByte_UntilTheRealFinish_UsageRead()
    {
        var converter = new GeminiPassthroughStream(jsonArray: false);

        var output = await StreamHarness.RunAsync(converter, new WholeStream(s_answer));

        var relayed = (await StreamHarness.ParseAsync(output)).Select(e => e.Data).ToList();
        var sent = (await StreamHarness.ParseAsync(s_answer)).Select(e => e.Data).ToList();
        Assert.That(relayed, Is.EqualTo(sent), "every chunk, even one whose text or arguments say finishReason");
        Assert.That(converter.Finished, Is.True);
        Assert.That((converter.Usage.InputTokens, converter.Usage.OutputTokens, converter.Usage.CacheReadInputTokens), Is.EqualTo((30L, 4L, 60L)));
    }

    [Test]
    public async Task JsonArray_TheSameChunksAsOneArray()
    {
        var output = await StreamHarness.RunAsync(new GeminiPassthroughStream(jsonArray: true), new WholeStream(s_answer));

        var sent = (await StreamHarness.ParseAsync(s_answer)).Select(e => JsonNode.Parse(e.Data)!.ToJsonString()).ToList();
        Assert.That(JsonNode.Parse(output)!.AsArray().Select(c => c!.ToJsonString()), Is.EqualTo(sent));
    }

    [Test]
    public async Task BlockedPrompt_EndsTheAnswer_WithoutAnError()
    {
        var blocked = Upstream([FakeGemini.Chunk(JsonNode.Parse("""{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7}}""")!)]);
        var converter = new GeminiPassthroughStream(jsonArray: false);

        var output = Encoding.UTF8.GetString(await StreamHarness.RunAsync(converter, new WholeStream(blocked)));

        Assert.That(converter.Finished, Is.True);
        Assert.That(output, Does.Not.Contain("\"error\""));
        Assert.That(converter.Usage.InputTokens, Is.EqualTo(7));
    }

    [Test]
    public async Task CutBeforeTheFinish_EndsWithGooglesError()
    {
        var cut = Upstream(FakeGemini.Stream([FakeGemini.Part.Say("Half of it")]).Take(1));

        var output = await StreamHarness.RunAsync(new GeminiPassthroughStream(jsonArray: true), new WholeStream(cut));

        var chunks = JsonNode.Parse(output)!.AsArray();
        Assert.That(chunks[^1]!["error"]!["status"]!.GetValue<string>(), Is.EqualTo("INTERNAL"));
    }
}
