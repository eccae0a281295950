using System.Text.RegularExpressions;
using CcxProxy.Channels;
using CcxProxy.Tests.Support;

namespace CcxProxy.Tests.Docs;

/// <summary>The docs cannot drift: their examples load, and every channel field is documented.</summary>
[TestFixture]
public sealed partial class DocsExamplesTests
{
    private static string Docs => Path.Combine(RepoPaths.Root, "docs");

    // Every env: variable the examples name resolves to a dummy value.
    private static string? Environment(string name) => "dummy-" + name;

    private static IEnumerable<string> ExampleFiles() =>
        Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "docs", "examples", "channels"), "*.json")
            .Append(Path.Combine(RepoPaths.Root, "channels", "anthropic.json"))
            .Select(path => Path.GetRelativePath(RepoPaths.Root, path));

    [TestCaseSource(nameof(ExampleFiles))]
    public void ChannelExample_Loads_WithoutErrors(string relativePath)
    {
        var path = Path.Combine(RepoPaths.Root, relativePath);

        var result = ChannelFileParser.Parse(Path.GetFileName(path), File.ReadAllBytes(path), Environment, Path.GetDirectoryName(path)!);

        Assert.That(result.Errors, Is.Empty, string.Join("\n", result.Errors));
        Assert.That(result.IsValid, Is.True);
    }

    [Test]
    public void EveryFieldExample_UsesEveryTopLevelField()
    {
        var text = File.ReadAllText(Path.Combine(Docs, "examples", "channels", "every-field.json"));

        foreach (var field in ChannelFileParser.TopLevelFields.Where(f => f != "baseUrl"))
        {
            Assert.That(text, Does.Contain($"\"{field}\""), field);
        }
    }

    [Test]
    public void ChannelsDoc_DocumentsEveryField()
    {
        var documented = FieldRow().Matches(File.ReadAllText(Path.Combine(Docs, "channels.md"))).Select(m => m.Groups[1].Value).ToHashSet();

        Assert.That(documented, Is.SupersetOf(ChannelFileParser.TopLevelFields));
        Assert.That(documented, Is.SupersetOf(new[] { "timeouts.connect", "timeouts.responseHeaders", "timeouts.firstContent", "timeouts.idle" }));
    }

    [Test]
    public void DeepSeekExample_MapsClaudeCodeModelNames()
    {
        var path = Path.Combine(Docs, "examples", "channels", "deepseek.json");
        var channel = ChannelFileParser.Parse("deepseek.json", File.ReadAllBytes(path), Environment).Channel!;

        Assert.That(channel.MapModel("claude-opus-4-7"), Is.EqualTo("deepseek-reasoner"));
        Assert.That(channel.MapModel("claude-sonnet-4-6"), Is.EqualTo("deepseek-chat"));
        Assert.That(channel.MaxTokens, Is.EqualTo(8192));
    }

    [Test]
    public void ConfigurationDoc_ShowsTheRealAppSettings()
    {
        var doc = File.ReadAllText(Path.Combine(Docs, "configuration.md"));
        var settings = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "appsettings.json")))!;

        Assert.That(doc, Does.Contain($"\"MaxRequestBodyBytes\": {settings["Proxy"]!["MaxRequestBodyBytes"]}"));
        Assert.That(doc, Does.Contain($"\"PollIntervalSeconds\": {settings["Channels"]!["PollIntervalSeconds"]}"));
        Assert.That(doc, Does.Contain($"\"Directory\": \"{settings["Channels"]!["Directory"]}\""));
    }

    public static IEnumerable<TestCaseData> HostSettings()
    {
        static IEnumerable<string> Keys(string section, Type options) =>
            options.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
                .Where(p => p.CanWrite)
                .SelectMany(p => p.PropertyType.IsClass && p.PropertyType != typeof(string)
                    ? Keys($"{section}:{p.Name}", p.PropertyType)
                    : [$"{section}:{p.Name}"]);

        foreach (var key in Keys(CcxProxy.Hosting.GatewayOptions.Section, typeof(CcxProxy.Hosting.GatewayOptions))
                     .Concat(Keys(CcxProxy.Lifecycle.ShutdownOptions.Section, typeof(CcxProxy.Lifecycle.ShutdownOptions)))
                     .Concat(Keys(CcxProxy.Routing.RoutingOptions.Section, typeof(CcxProxy.Routing.RoutingOptions)))
                     .Append(CcxProxy.Hosting.TrustedProxies.Setting))
        {
            yield return new TestCaseData(key).SetArgDisplayNames(key);
        }
    }

    /// <summary>Every host setting the options classes bind is in the configuration reference, under its own name.</summary>
    [TestCaseSource(nameof(HostSettings))]
    public void ConfigurationDoc_DocumentsEverySetting(string key)
    {
        var doc = File.ReadAllText(Path.Combine(Docs, "configuration.md"));
        Assert.That(doc, Does.Contain($"| `{key}` |"), $"docs/configuration.md has no row for {key}");
        Assert.That(doc, Does.Contain($"`{key.Replace(":", "__", StringComparison.Ordinal)}`"), $"docs/configuration.md does not give {key}'s environment variable");
    }

    [Test]
    public void GroupsExample_Loads_WithoutErrors()
    {
        var path = Path.Combine(Docs, "examples", "groups.json");

        var result = GroupsFileParser.Parse("groups.json", File.ReadAllBytes(path));

        Assert.That(result.Errors, Is.Empty, string.Join("\n", result.Errors));
        Assert.That(result.Groups!["team-b"].Limits.QuotaPeriod, Is.EqualTo("month"));
        Assert.That(result.Groups["team-b"].Cache!.Ttl, Is.EqualTo(TimeSpan.FromHours(1)));
        Assert.That(File.ReadAllText(Path.Combine(Docs, "access.md")), Does.Contain("examples/groups.json"));
    }

    [GeneratedRegex(@"^\| `([A-Za-z.]+)` \|", RegexOptions.Multiline)]
    private static partial Regex FieldRow();
}
