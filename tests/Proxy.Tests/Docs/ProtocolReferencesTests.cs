using System.Text.RegularExpressions;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Docs;

/// <summary>
/// The code cites protocol facts as <c>§N</c>, <c>§N.M</c> and <c>§8 #N</c>: every such reference in src/ and tests/
/// names a section or an edge case that docs/protocols.md has, so a reader can always follow it.
/// </summary>
[TestFixture]
public sealed partial class ProtocolReferencesTests
{
    // RFC 9110 sections are cited as "RFC 9110 §10.2.3"; those are not ours.
    [GeneratedRegex(@"(?<!RFC \d{4} )§(?<section>\d+(?:\.\d+)?)(?:\.\d+)*(?<cases>(?:\s*#\d+(?:[–-]\d+)?,?)*)")]
    private static partial Regex Reference();

    [GeneratedRegex(@"#(?<from>\d+)(?:[–-](?<to>\d+))?")]
    private static partial Regex Case();

    [GeneratedRegex(@"^#{2,3} (?<number>\d+(?:\.\d+)?)[. ]", RegexOptions.Multiline)]
    private static partial Regex Heading();

    [Test]
    public void EveryReferenceInTheCode_IsInProtocolsMd()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "protocols.md"));
        var sections = Heading().Matches(doc).Select(m => m.Groups["number"].Value).ToHashSet();
        var edgeCases = EdgeCases(doc);
        var missing = new List<string>();
        var seen = 0;
        foreach (var file in SourceFiles())
        {
            foreach (Match reference in Reference().Matches(File.ReadAllText(file)))
            {
                seen++;
                var section = reference.Groups["section"].Value;
                if (!sections.Contains(section))
                {
                    missing.Add($"{Path.GetRelativePath(RepoPaths.Root, file)}: §{section}");
                }

                foreach (Match c in Case().Matches(reference.Groups["cases"].Value))
                {
                    var from = int.Parse(c.Groups["from"].Value, System.Globalization.CultureInfo.InvariantCulture);
                    var to = c.Groups["to"].Success ? int.Parse(c.Groups["to"].Value, System.Globalization.CultureInfo.InvariantCulture) : from;
                    missing.AddRange(Enumerable.Range(from, to - from + 1).Where(n => section != "8" || !edgeCases.Contains(n))
                        .Select(n => $"{Path.GetRelativePath(RepoPaths.Root, file)}: §{section} #{n}"));
                }
            }
        }

        Assert.That(seen, Is.GreaterThan(100), "the scan found the code's references");
        Assert.That(missing, Is.Empty);
    }

    /// <summary>The numbers of the list items in section 8.</summary>
    private static HashSet<int> EdgeCases(string doc)
    {
        var start = doc.IndexOf("\n## 8.", StringComparison.Ordinal);
        var end = doc.IndexOf("\n## 9.", start, StringComparison.Ordinal);
        return [.. Regex.Matches(doc[start..end], @"^(\d+)\.", RegexOptions.Multiline).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))];
    }

    private static IEnumerable<string> SourceFiles() =>
        new[] { "src", "tests" }.SelectMany(dir => Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, dir), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
}
