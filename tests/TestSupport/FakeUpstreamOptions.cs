namespace CcxProxy.TestSupport;

/// <summary>Knobs of <see cref="FakeUpstream.DefaultHandler"/>, for benchmarks and the fake-upstream tool.</summary>
public sealed record FakeUpstreamOptions
{
    /// <summary>The text of every default answer.</summary>
    public const string DefaultText = "Hello from fake upstream";

    /// <summary>Number of text deltas (Anthropic) or content chunks (OpenAI) in a streamed default answer. Default 20.</summary>
    /// <remarks>When it exceeds the length of <see cref="DefaultText"/>, the text is repeated until every delta has at least one character.</remarks>
    public int TextEvents { get; init; } = 20;

    /// <summary>Pause between streamed events of a default answer. Default none.</summary>
    public TimeSpan EventDelay { get; init; }

    /// <summary>The text the default handler streams or returns, long enough for <see cref="TextEvents"/> deltas.</summary>
    /// <returns>The text.</returns>
    public string Text()
    {
        if (TextEvents <= DefaultText.Length)
        {
            return DefaultText;
        }

        var repeats = (TextEvents / (DefaultText.Length + 1)) + 1;
        return string.Join(' ', Enumerable.Repeat(DefaultText, repeats));
    }
}
