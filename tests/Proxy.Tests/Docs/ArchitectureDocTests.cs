using System.Text.RegularExpressions;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Docs;

/// <summary>
/// docs/architecture.md walks a newcomer through the code by file and by name, so a move or a rename that forgets
/// the document fails here: every path it names (<c>`src/…`</c>, <c>`tests/…`</c>, …, or <c>`Hub/ConversionTable`</c>
/// relative to a folder of <c>src</c>) exists, and every name it puts in code font (<c>`ConversionTable`</c>,
/// <c>`RoutePlan.TryNext`</c>) appears in the code.
/// </summary>
[TestFixture]
public sealed partial class ArchitectureDocTests
{
    private static readonly string[] s_documents = ["docs/architecture.md", "src/Transforms/Conversion/OpenAIChat/README.md"];

    private static readonly Lazy<HashSet<string>> s_codeWords = new(() =>
        [.. CodeFiles().SelectMany(file => Word().Matches(File.ReadAllText(file)).Select(m => m.Value))]);

    private static readonly Lazy<string[]> s_sourceEntries = new(() =>
        [.. Directory.EnumerateFileSystemEntries(Path.Combine(RepoPaths.Root, "src"), "*", SearchOption.AllDirectories)
            .Where(NotBuildOutput).Select(p => p.Replace(Path.DirectorySeparatorChar, '/'))]);

    [GeneratedRegex(@"`(?<path>(?:src|tests|docs|bench|deploy|tools)/[^`\s]*)`")]
    private static partial Regex RepositoryPath();

    [GeneratedRegex(@"`(?<path>[A-Z][A-Za-z]*(?:/[A-Za-z][A-Za-z0-9]*)+)(?:\.cs)?`")]
    private static partial Regex RelativePath();

    // `Name`, `Name<T>`, `Name.Member`, `Name.Member()`: the first name is what must exist.
    [GeneratedRegex(@"`(?<name>[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:<[A-Za-z, ]+>)?(?:\.[A-Za-z][A-Za-z0-9]*)*(?:\(\))?`")]
    private static partial Regex CodeName();

    [GeneratedRegex(@"\b[A-Za-z_][A-Za-z0-9_]*\b")]
    private static partial Regex Word();

    private static IEnumerable<TestCaseData> Documents() => s_documents.Select(d => new TestCaseData(d).SetArgDisplayNames(d));

    [TestCaseSource(nameof(Documents))]
    public void EveryPathTheDocumentNames_Exists(string document)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, document));
        var paths = RepositoryPath().Matches(text).Select(m => m.Groups["path"].Value.TrimEnd('/', '.', ',')).Distinct().ToList();
        var relative = RelativePath().Matches(text).Select(m => m.Groups["path"].Value).Distinct().ToList();

        var missing = paths.Where(p => !File.Exists(Path.Combine(RepoPaths.Root, p)) && !Directory.Exists(Path.Combine(RepoPaths.Root, p)))
            .Concat(relative.Where(p => !s_sourceEntries.Value.Any(e => e.EndsWith("/" + p, StringComparison.Ordinal) || e.EndsWith("/" + p + ".cs", StringComparison.Ordinal))));

        Assert.That(paths.Count + relative.Count, Is.GreaterThan(0), "the scan found the document's paths");
        Assert.That(missing, Is.Empty);
    }

    [TestCaseSource(nameof(Documents))]
    public void EveryNameInCodeFont_AppearsInTheCode(string document)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, document));
        var names = CodeName().Matches(text).Select(m => m.Groups["name"].Value).Distinct().ToList();

        var missing = names.Where(name => !s_codeWords.Value.Contains(name));

        Assert.That(names, Is.Not.Empty, "the scan found the document's names");
        Assert.That(missing, Is.Empty);
    }

    private static IEnumerable<string> CodeFiles() =>
        new[] { "src", "tests", "bench" }.SelectMany(dir => Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, dir), "*.cs", SearchOption.AllDirectories))
            .Where(NotBuildOutput)
            .Where(file => Path.GetFileName(file) != nameof(ArchitectureDocTests) + ".cs");

    private static bool NotBuildOutput(string path) =>
        !path.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
        && !path.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal);
}
