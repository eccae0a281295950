using System.Text;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class ChannelFileParserTests
{
    private static readonly Dictionary<string, string> Env = new()
    {
        ["KIMI_KEY"] = "sk-kimi-from-env",
        ["EMPTY"] = "",
        ["ORG_ID"] = "org-secret-42",
    };

    private static ChannelParseResult Parse(string json, string fileName = "kimi.json") =>
        ChannelFileParser.Parse(fileName, Encoding.UTF8.GetBytes(json), name => Env.GetValueOrDefault(name));

    private static ChannelConfig ParseValid(string json, string fileName = "kimi.json")
    {
        var result = Parse(json, fileName);
        Assert.That(result.Errors, Is.Empty, string.Join("\n", result.Errors));
        Assert.That(result.IsValid, Is.True);
        return result.Channel!;
    }

    private static List<string> FieldsOf(ChannelParseResult result) => result.Errors.Select(e => e.Field).ToList();

    [Test]
    public void Parse_MinimalFile_AppliesDefaults()
    {
        var channel = ParseValid("""{"type":"anthropic","baseUrl":"https://api.anthropic.com","apiKeys":["sk-1"]}""", "anthropic-main.json");

        Assert.Multiple(() =>
        {
            Assert.That(channel.Name, Is.EqualTo("anthropic-main"));
            Assert.That(channel.SourceFile, Is.EqualTo("anthropic-main.json"));
            Assert.That(channel.Type, Is.EqualTo(WireProtocol.Anthropic));
            Assert.That(channel.Auth, Is.EqualTo(UpstreamAuth.XApiKey));
            Assert.That(channel.Models, Is.Null);
            Assert.That(channel.ModelMapping, Is.Empty);
            Assert.That(channel.Priority, Is.EqualTo(0));
            Assert.That(channel.Weight, Is.EqualTo(1));
            Assert.That(channel.Groups, Is.EqualTo(new[] { "default" }));
            Assert.That(channel.Headers, Is.Empty);
            Assert.That(channel.Enabled, Is.True);
            Assert.That(channel.Timeouts, Is.EqualTo(new ChannelTimeouts()));
            Assert.That(channel.Timeouts.Connect, Is.EqualTo(TimeSpan.FromSeconds(10)));
            Assert.That(channel.Timeouts.ResponseHeaders, Is.EqualTo(TimeSpan.FromSeconds(600)));
            Assert.That(channel.Timeouts.Idle, Is.EqualTo(TimeSpan.FromSeconds(300)));
            Assert.That(channel.MaxTokens, Is.Null);
            Assert.That(channel.ApiKeys.Select(k => k.Value), Is.EqualTo(new[] { "sk-1" }));
        });
    }

    [Test]
    public void Parse_EveryField_ReadsAll()
    {
        var channel = ParseValid("""
            // comments and trailing commas are allowed
            {
              "name": "kimi-coding",
              "type": "openai",
              "baseUrls": ["https://a.example.com/v1/", "http://b.example.com:8080/x"],
              "apiKeys": ["sk-literal", "env:KIMI_KEY",],
              "auth": "x-api-key",
              "models": ["claude-*", "kimi-k2"],
              "modelMapping": {"opus": "kimi-k2-max", "sonnet": "kimi-k2"},
              "priority": -2,
              "weight": 5,
              "groups": ["team-a", "team-b"],
              "headers": {"X-Org": "env:ORG_ID", "anthropic-beta": "tools-2024"},
              "enabled": false,
              "timeouts": {"connect": 2.5, "responseHeaders": 60, "idle": 30},
              "maxTokens": 8192,
            }
            """);

        Assert.Multiple(() =>
        {
            Assert.That(channel.Name, Is.EqualTo("kimi-coding"));
            Assert.That(channel.Type, Is.EqualTo(WireProtocol.OpenAI));
            Assert.That(channel.BaseUrls.Select(u => u.OriginalString), Is.EqualTo(new[] { "https://a.example.com/v1", "http://b.example.com:8080/x" }));
            Assert.That(channel.ApiKeys.Select(k => k.Value), Is.EqualTo(new[] { "sk-literal", "sk-kimi-from-env" }));
            Assert.That(channel.Auth, Is.EqualTo(UpstreamAuth.XApiKey));
            Assert.That(channel.Models, Is.EqualTo(new[] { "claude-*", "kimi-k2" }));
            Assert.That(channel.ModelMapping["OPUS"], Is.EqualTo("kimi-k2-max"));
            Assert.That(channel.ModelMapping["sonnet"], Is.EqualTo("kimi-k2"));
            Assert.That(channel.Priority, Is.EqualTo(-2));
            Assert.That(channel.Weight, Is.EqualTo(5));
            Assert.That(channel.Groups, Is.EqualTo(new[] { "team-a", "team-b" }));
            Assert.That(channel.Headers["X-Org"], Is.EqualTo("org-secret-42"));
            Assert.That(channel.Headers["anthropic-beta"], Is.EqualTo("tools-2024"));
            Assert.That(channel.Enabled, Is.False);
            Assert.That(channel.Timeouts.Connect, Is.EqualTo(TimeSpan.FromSeconds(2.5)));
            Assert.That(channel.Timeouts.ResponseHeaders, Is.EqualTo(TimeSpan.FromSeconds(60)));
            Assert.That(channel.Timeouts.Idle, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(channel.MaxTokens, Is.EqualTo(8192));
        });
    }

    [TestCase("anthropic", UpstreamAuth.XApiKey)]
    [TestCase("openai", UpstreamAuth.Bearer)]
    public void Parse_NoAuthField_DefaultsByType(string type, UpstreamAuth expected)
    {
        var channel = ParseValid($$"""{"type":"{{type}}","baseUrl":"https://x.example.com","apiKeys":["k"]}""");
        Assert.That(channel.Auth, Is.EqualTo(expected));
    }

    [TestCase("bearer", UpstreamAuth.Bearer)]
    [TestCase("x-api-key", UpstreamAuth.XApiKey)]
    public void Parse_AuthField_Overrides(string auth, UpstreamAuth expected)
    {
        var channel = ParseValid($$"""{"type":"anthropic","auth":"{{auth}}","baseUrl":"https://x.example.com","apiKeys":["k"]}""");
        Assert.That(channel.Auth, Is.EqualTo(expected));
    }

    [TestCase("https://api.anthropic.com", "https://api.anthropic.com")]
    [TestCase("https://api.anthropic.com/", "https://api.anthropic.com")]
    [TestCase("https://api.deepseek.com/anthropic", "https://api.deepseek.com/anthropic")]
    [TestCase("https://api.deepseek.com/anthropic/", "https://api.deepseek.com/anthropic")]
    [TestCase("https://api.kimi.com/coding/", "https://api.kimi.com/coding")]
    public void Parse_BaseUrl_StoredWithoutTrailingSlash(string input, string expected)
    {
        var channel = ParseValid($$"""{"type":"anthropic","baseUrl":"{{input}}","apiKeys":["k"]}""");
        Assert.Multiple(() =>
        {
            Assert.That(channel.BaseUrls.Single().OriginalString, Is.EqualTo(expected));
            Assert.That(channel.BaseUrls.Single().AbsoluteUri.TrimEnd('/'), Is.EqualTo(expected));
            Assert.That(channel.BaseUrls.Single().OriginalString, Does.Not.EndWith("/"));
        });
    }

    [Test]
    public void Parse_MalformedJson_OneErrorWithPosition()
    {
        var result = Parse("{\n  \"type\": \"anthropic\",\n  \"baseUrl\": }");

        Assert.Multiple(() =>
        {
            Assert.That(result.IsValid, Is.False);
            Assert.That(result.Channel, Is.Null);
            Assert.That(result.Errors, Has.Count.EqualTo(1));
            Assert.That(result.Errors[0].Field, Is.EqualTo("(json)"));
            Assert.That(result.Errors[0].Message, Does.Contain("line 3"));
            Assert.That(result.Errors[0].File, Is.EqualTo("kimi.json"));
        });
    }

    [TestCase("[]")]
    [TestCase("\"text\"")]
    [TestCase("{} {}")]
    [TestCase("")]
    public void Parse_NotASingleObject_JsonError(string json)
    {
        var result = Parse(json);
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "(json)" }));
    }

    [Test]
    public void Parse_Utf8Bom_Accepted()
    {
        var bytes = Encoding.UTF8.GetPreamble().Concat(Encoding.UTF8.GetBytes("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"]}""")).ToArray();
        var result = ChannelFileParser.Parse("x.json", bytes, _ => null);
        Assert.That(result.IsValid, Is.True, string.Join("\n", result.Errors));
    }

    [Test]
    public void Parse_UnknownField_ErrorListsKnownFields()
    {
        var result = Parse("""{"type":"anthropic","baseUrl":"https://x.example.com","apiKeys":["k"],"modelMaping":{}}""");

        Assert.That(result.Errors, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors[0].Field, Is.EqualTo("modelMaping"));
            Assert.That(result.Errors[0].Message, Does.Contain("unknown field").And.Contain("modelMapping"));
        });
    }

    [Test]
    public void Parse_FieldNamesAreCaseSensitive_WrongCaseRejected()
    {
        var result = Parse("""{"Type":"anthropic","baseUrl":"https://x.example.com","apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EquivalentTo(new[] { "Type", "type" }));
    }

    [Test]
    public void Parse_ManyMistakes_ReportsEveryErrorAtOnce()
    {
        var result = Parse("""
            {
              "name": "bad name!",
              "type": "cohere",
              "baseUrl": "ftp://x.example.com",
              "apiKeys": ["sk-ok", 42, "env:MISSING", "env:EMPTY", ""],
              "auth": "basic",
              "models": [],
              "modelMapping": {"opus": "", "haiku": 3},
              "priority": 1.5,
              "weight": 0,
              "groups": ["", 7],
              "headers": {"Host": "x", "Authorization": "Bearer y", "x-api-key": "z", "Connection": "close", "Content-Length": "1", "Bad Name": "v", "X-Env": "env:MISSING"},
              "enabled": "yes",
              "timeouts": {"connect": 0, "idle": "30", "read": 5},
              "maxTokens": 0,
              "extra": true
            }
            """);

        Assert.That(FieldsOf(result), Is.EquivalentTo(new[]
        {
            "name", "type", "baseUrl",
            "apiKeys[1]", "apiKeys[2]", "apiKeys[3]", "apiKeys[4]",
            "auth", "models", "modelMapping.opus", "modelMapping.haiku",
            "priority", "weight", "groups[0]", "groups[1]",
            "headers.Host", "headers.Authorization", "headers.x-api-key", "headers.Connection", "headers.Content-Length", "headers.Bad Name", "headers.X-Env",
            "enabled", "timeouts.connect", "timeouts.idle", "timeouts.read", "maxTokens", "extra",
        }));
        Assert.That(result.Channel, Is.Null);
    }

    [Test]
    public void Parse_WrongTypes_NameExpectedType()
    {
        var result = Parse("""{"type":1,"baseUrl":["https://x.example.com"],"apiKeys":"k","groups":"default","headers":[],"timeouts":5}""");

        var byField = result.Errors.ToDictionary(e => e.Field, e => e.Message);
        Assert.Multiple(() =>
        {
            Assert.That(byField["type"], Does.Contain("expected a string").And.Contain("a number"));
            Assert.That(byField["baseUrl"], Does.Contain("expected a string").And.Contain("an array"));
            Assert.That(byField["apiKeys"], Does.Contain("expected an array"));
            Assert.That(byField["groups"], Does.Contain("expected an array"));
            Assert.That(byField["headers"], Does.Contain("expected an object"));
            Assert.That(byField["timeouts"], Does.Contain("expected an object"));
        });
    }

    [Test]
    public void Parse_MissingRequired_ErrorsForTypeBaseUrlApiKeys()
    {
        var result = Parse("{}");
        Assert.That(FieldsOf(result), Is.EquivalentTo(new[] { "type", "baseUrl", "apiKeys" }));
    }

    [Test]
    public void Parse_BothBaseUrlAndBaseUrls_Error()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://a.example.com","baseUrls":["https://b.example.com"],"apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "baseUrls" }));
    }

    [TestCase("\"https://user:pw@x.example.com\"")]
    [TestCase("\"https://x.example.com/v1?a=1\"")]
    [TestCase("\"https://x.example.com/v1#top\"")]
    [TestCase("\"/relative/path\"")]
    [TestCase("\"ws://x.example.com\"")]
    public void Parse_BadBaseUrl_Error(string url)
    {
        var result = Parse($$"""{"type":"openai","baseUrl":{{url}},"apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "baseUrl" }));
    }

    [Test]
    public void Parse_UserInfoInBaseUrl_ErrorDoesNotEchoPassword()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://user:hunter2@x.example.com","apiKeys":["k"]}""");
        Assert.That(result.Errors.Single().ToString(), Does.Not.Contain("hunter2"));
    }

    [Test]
    public void Parse_BaseUrlsArray_FieldIndexInError()
    {
        var result = Parse("""{"type":"openai","baseUrls":["https://a.example.com","nope","https://a.example.com/"],"apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "baseUrls[1]", "baseUrls[2]" }));
    }

    [Test]
    public void Parse_EnvKeySet_ResolvedValue()
    {
        var channel = ParseValid("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["env:KIMI_KEY"]}""");
        Assert.That(channel.ApiKeys.Single().Value, Is.EqualTo("sk-kimi-from-env"));
    }

    [TestCase("env:MISSING")]
    [TestCase("env:EMPTY")]
    public void Parse_EnvKeyUnsetOrEmpty_ErrorNamesVariable(string reference)
    {
        var result = Parse($$"""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["{{reference}}"]}""");

        Assert.That(result.Errors, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(result.Errors[0].Field, Is.EqualTo("apiKeys[0]"));
            Assert.That(result.Errors[0].Message, Does.Contain(reference[4..]));
        });
    }

    [Test]
    public void Parse_EmptyApiKeys_Error()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":[]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "apiKeys" }));
    }

    [Test]
    public void Parse_DuplicateKey_ErrorDoesNotEchoKey()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["sk-same-secret","sk-same-secret"]}""");

        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "apiKeys[1]" }));
        Assert.That(result.Errors[0].ToString(), Does.Not.Contain("sk-same-secret"));
    }

    [Test]
    public void Parse_ModelMappingKeysDifferOnlyByCase_Error()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"],"modelMapping":{"opus":"a","OPUS":"b"}}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "modelMapping.OPUS" }));
    }

    [Test]
    public void Parse_ModelsNull_ServesEveryModel()
    {
        var channel = ParseValid("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"],"models":null,"maxTokens":null}""");
        Assert.Multiple(() =>
        {
            Assert.That(channel.Models, Is.Null);
            Assert.That(channel.MaxTokens, Is.Null);
        });
    }

    [Test]
    public void Parse_InvalidDefaultNameFromFile_ErrorOnName()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"]}""", "my channel.json");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "name" }));
    }

    [Test]
    public void Parse_NameTooLong_Error()
    {
        var result = Parse($$"""{"name":"{{new string('a', 65)}}","type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "name" }));
    }

    [Test]
    public void Parse_DuplicateTopLevelField_Error()
    {
        var result = Parse("""{"type":"openai","type":"anthropic","baseUrl":"https://x.example.com","apiKeys":["k"]}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "type" }));
    }

    [Test]
    public void Parse_HeaderValueWithNewline_Error()
    {
        var result = Parse("""{"type":"openai","baseUrl":"https://x.example.com","apiKeys":["k"],"headers":{"X-A":"a\r\nX-B: b"}}""");
        Assert.That(FieldsOf(result), Is.EqualTo(new[] { "headers.X-A" }));
    }

    [Test]
    public void ChannelConfigError_ToString_FileFieldMessage()
    {
        Assert.That(new ChannelConfigError("a.json", "timeouts.idle", "must be more than 0").ToString(), Is.EqualTo("a.json: timeouts.idle: must be more than 0"));
    }
}
