using System.Text;
using NUnit.Framework;

namespace CcxProxy.TestSupport.Tests;

[TestFixture]
public sealed class SseReaderTests
{
    private static readonly string[] LineEnds = ["\n", "\r\n", "\r"];

    [TestCaseSource(nameof(LineEnds))]
    public async Task ReadAllAsync_AnyLineEnd_ParsesFramesCommentsAndUnterminatedLastFrame(string eol)
    {
        var text = $": keep-alive{eol}event: ping{eol}data: {{\"type\":\"ping\"}}{eol}{eol}data: a{eol}data:b{eol}{eol}data: [DONE]";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));

        var frames = await SseReader.ReadAllAsync(stream).Bounded();

        Assert.That(frames, Has.Count.EqualTo(3));
        Assert.That(frames[0].Event, Is.EqualTo("ping"));
        Assert.That(frames[0].Json!["type"]!.GetValue<string>(), Is.EqualTo("ping"));
        Assert.That(frames[1].Event, Is.Null);
        Assert.That(frames[1].Data, Is.EqualTo("a\nb"));
        Assert.That(frames[2].Data, Is.EqualTo("[DONE]"));
        Assert.That(frames[2].Json, Is.Null);
    }
}
