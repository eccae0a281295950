using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Tests;

internal static class ChannelTestData
{
    public static ChannelConfig Channel(string name, int priority = 0, int weight = 1, bool enabled = true, string[]? groups = null, string[]? models = null) => new()
    {
        Name = name,
        Type = WireProtocol.Anthropic,
        BaseUrls = [new Uri("https://" + name + ".example.com")],
        ApiKeys = [new UpstreamKey("sk-" + name)],
        Priority = priority,
        Weight = weight,
        Enabled = enabled,
        Groups = groups ?? ["default"],
        Models = models,
        SourceFile = name + ".json",
    };

    /// <summary>A valid channel file body.</summary>
    public static string Json(string? name = null, string baseUrl = "https://api.example.com", string key = "sk-test", string extra = "")
    {
        var nameField = name is null ? "" : $"\"name\":\"{name}\",";
        return $$"""{{{nameField}}"type":"anthropic","baseUrl":"{{baseUrl}}","apiKeys":["{{key}}"]{{extra}}}""";
    }
}
