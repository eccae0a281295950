using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>
/// Requests recorded from real clients (see Recorded/): what Claude Code really sends, read by tests
/// instead of guessed.
/// </summary>
public static class RecordedRequests
{
    /// <summary>The CLI versions with a recording.</summary>
    public static IReadOnlyList<string> ClaudeCodeVersions { get; } = ["2.1.197", "2.1.330"];

    /// <summary>
    /// The first <c>POST /v1/messages?beta=true</c> of <c>claude -p "hello" --model claude-sonnet-4-6</c>:
    /// an object with <c>path</c>, <c>headers</c> (without credentials) and <c>body</c>.
    /// </summary>
    public static JsonObject ClaudeCodeFirstTurn(string version)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Recorded", $"claude-code-{version}-first-turn.json");
        return JsonNode.Parse(File.ReadAllText(path))!.AsObject();
    }

    /// <summary>The body of <see cref="ClaudeCodeFirstTurn"/> as UTF-8 bytes.</summary>
    public static byte[] ClaudeCodeFirstTurnBody(string version) =>
        System.Text.Encoding.UTF8.GetBytes(ClaudeCodeFirstTurn(version)["body"]!.ToJsonString());
}
