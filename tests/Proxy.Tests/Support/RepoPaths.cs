namespace CcxProxy.Tests.Support;

/// <summary>Finds files of the repository (docs examples, the test tools installed by test.sh).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The Claude Code CLI of a pinned version, installed by tools/install-test-deps.sh.</summary>
    public static string ClaudeCli(string version) =>
        Path.Combine(Root, ".test-tools", $"claude-code-{version}", "node_modules", ".bin", "claude");

    /// <summary>The Codex CLI of a pinned version, installed by tools/install-test-deps.sh.</summary>
    public static string CodexCli(string version) =>
        Path.Combine(Root, ".test-tools", $"codex-{version}", "node_modules", ".bin", "codex");

    /// <summary>The Gemini CLI of a pinned version, installed by tools/install-test-deps.sh.</summary>
    public static string GeminiCli(string version) =>
        Path.Combine(Root, ".test-tools", $"gemini-cli-{version}", "node_modules", ".bin", "gemini");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ccx-proxy.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("ccx-proxy.sln not found above " + AppContext.BaseDirectory);
    }
}
