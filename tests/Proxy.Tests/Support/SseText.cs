namespace CcxProxy.Tests.Support;

/// <summary>Splits a whole SSE response text into (event type, data) pairs, for assertions.</summary>
public static class SseText
{
    public static IReadOnlyList<(string? Type, string Data)> Parse(string text)
    {
        var events = new List<(string?, string)>();
        foreach (var frame in text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? type = null;
            var data = new List<string>();
            foreach (var line in frame.Split('\n'))
            {
                if (line.StartsWith("event:", StringComparison.Ordinal))
                {
                    type = line[6..].Trim();
                }
                else if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    data.Add(line[5..].TrimStart());
                }
            }

            if (type is not null || data.Count > 0)
            {
                events.Add((type, string.Join('\n', data)));
            }
        }

        return events;
    }
}
