using CcxProxy.Tests.Support;
using YamlDotNet.RepresentationModel;

namespace CcxProxy.Tests.Deploy;

/// <summary>One Kubernetes object read from a manifest under <c>deploy/</c>.</summary>
/// <param name="File">The manifest, relative to the repository root, with forward slashes.</param>
/// <param name="Root">The object.</param>
public sealed record KubernetesObject(string File, YamlMappingNode Root)
{
    public string Kind => Root.Str("kind") ?? "";

    public string Name => Root.Get("metadata")?.Str("name") ?? "";

    public override string ToString() => $"{File} {Kind}/{Name}";
}

/// <summary>Every YAML file under <c>deploy/</c>, and every object in them.</summary>
public static class KubernetesManifests
{
    public static string Folder => Path.Combine(RepoPaths.Root, "deploy");

    /// <summary>The YAML files, relative to the repository root (forward slashes), in a stable order.</summary>
    public static IReadOnlyList<string> Files { get; } = Directory.Exists(Folder)
        ? Directory.EnumerateFiles(Folder, "*.*", SearchOption.AllDirectories)
            .Where(path => path.EndsWith(".yaml", StringComparison.Ordinal) || path.EndsWith(".yml", StringComparison.Ordinal))
            .Select(path => Path.GetRelativePath(RepoPaths.Root, path).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList()
        : [];

    /// <summary>Every document of every file (empty documents skipped).</summary>
    public static IReadOnlyList<KubernetesObject> Objects { get; } = Files.SelectMany(Load).ToList();

    /// <summary>The one object of <paramref name="kind"/> named <paramref name="name"/>; fails the test otherwise.</summary>
    public static KubernetesObject Single(string kind, string name)
    {
        var found = Objects.Where(o => o.Kind == kind && o.Name == name).ToList();
        Assert.That(found, Has.Count.EqualTo(1), $"{kind}/{name} under deploy/: {string.Join(", ", found)}");
        return found[0];
    }

    private static IEnumerable<KubernetesObject> Load(string relativePath)
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(RepoPaths.Root, relativePath)))
        {
            stream.Load(reader);
        }

        return stream.Documents
            .Select(document => document.RootNode)
            .OfType<YamlMappingNode>()
            .Select(root => new KubernetesObject(relativePath, root))
            .ToList();
    }
}

/// <summary>Small readers over YamlDotNet's representation model.</summary>
public static class YamlNodes
{
    /// <summary>The value of <paramref name="key"/> in a mapping, or null.</summary>
    public static YamlNode? Get(this YamlNode? node, string key) =>
        node is YamlMappingNode map
            ? map.Children.FirstOrDefault(pair => pair.Key is YamlScalarNode scalar && scalar.Value == key).Value
            : null;

    /// <summary>The value at a dotted path (<c>spec.template.spec</c>), or null.</summary>
    public static YamlNode? At(this YamlNode? node, string path) =>
        path.Split('.').Aggregate(node, (current, key) => current.Get(key));

    /// <summary>The scalar value of <paramref name="key"/>, or null.</summary>
    public static string? Str(this YamlNode? node, string key) => (node.Get(key) as YamlScalarNode)?.Value;

    /// <summary>The items of the sequence at <paramref name="path"/>, empty when absent.</summary>
    public static IReadOnlyList<YamlNode> Items(this YamlNode? node, string path) =>
        node.At(path) is YamlSequenceNode sequence ? sequence.Children.ToList() : [];

    /// <summary>The scalar entries of the mapping at <paramref name="path"/>, empty when absent.</summary>
    public static IReadOnlyDictionary<string, string> Entries(this YamlNode? node, string path) =>
        node.At(path) is YamlMappingNode map
            ? map.Children.Where(p => p.Key is YamlScalarNode && p.Value is YamlScalarNode)
                .ToDictionary(p => ((YamlScalarNode)p.Key).Value!, p => ((YamlScalarNode)p.Value).Value ?? "", StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
}
