using System.Text.RegularExpressions;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Docs;

/// <summary>
/// docs/architecture.md walks a newcomer through the code by file: every path it names (<c>`src/…`</c>,
/// <c>`tests/…`</c>, <c>`docs/…`</c>, <c>`bench/…`</c>) is a file or folder the repository has, so a move or a
/// rename that forgets the document fails here.
/// </summary>
[TestFixture]
public sealed partial class ArchitectureDocTests
{
    [GeneratedRegex(@"`(?<path>(?:src|tests|docs|bench|deploy|tools)/[^`\s]*)`")]
    private static partial Regex RepositoryPath();

    [TestCase("docs/architecture.md")]
    [TestCase("src/Transforms/Conversion/OpenAIChat/README.md")]
    public void EveryPathTheDocumentNames_Exists(string document)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, document));
        var paths = RepositoryPath().Matches(text).Select(m => m.Groups["path"].Value.TrimEnd('/', '.', ',')).Distinct().ToList();

        var missing = paths.Where(p => !File.Exists(Path.Combine(RepoPaths.Root, p)) && !Directory.Exists(Path.Combine(RepoPaths.Root, p)));

        Assert.That(paths, Has.Count.GreaterThan(document.EndsWith("README.md", StringComparison.Ordinal) ? 0 : 20), "the scan found the document's paths");
        Assert.That(missing, Is.Empty);
    }
}
