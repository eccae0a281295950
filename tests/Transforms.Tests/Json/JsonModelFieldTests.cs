using NUnit.Framework;
using System.Text;
using CcxProxy.Transforms.Json;

namespace CcxProxy.Transforms.Tests.Json;

[TestFixture]
public sealed class JsonModelFieldTests
{
    private static ModelScan Scan(string json) => JsonModelField.Scan(Encoding.UTF8.GetBytes(json));

    [TestCase("""{"model":"claude-opus-4-7","max_tokens":1}""", "claude-opus-4-7")]
    [TestCase("""{ "messages": [{"model":"nested"}], "model" : "top" }""", "top")]
    [TestCase("""{"metadata":{"model":"nested"},"model":"top"}""", "top")]
    [TestCase("""{"model":"caf\u00e9"}""", "café")]
    public void Scan_TopLevelModel_Found(string json, string expected)
    {
        var scan = Scan(json);

        Assert.That(scan.Error, Is.Null);
        Assert.That(scan.Model, Is.EqualTo(expected));
    }

    [TestCase("""{"model":"x",}""", "malformed JSON")]
    [TestCase("""{"model":"x"} trailing""", "malformed JSON")]
    [TestCase("""{"model":"x"}{}""", "malformed JSON")]
    [TestCase("[1,2]", "JSON object")]
    [TestCase("", "body is empty")]
    [TestCase("""{"max_tokens":1}""", "model: field required")]
    [TestCase("""{"messages":[{"model":"nested"}]}""", "model: field required")]
    [TestCase("""{"model":5}""", "model: must be a non-empty string")]
    [TestCase("""{"model":""}""", "model: must be a non-empty string")]
    [TestCase("""{"model":null}""", "model: must be a non-empty string")]
    public void Scan_BadBody_ErrorSaysWhy(string json, string error)
    {
        var scan = Scan(json);

        Assert.That(scan.Model, Is.Null);
        Assert.That(scan.Error, Does.Contain(error));
    }

    [Test]
    public void Scan_MalformedJson_ErrorGivesPosition()
    {
        var scan = Scan("{\n  \"model\": \"x\",\n  \"max_tokens\": oops\n}");

        Assert.That(scan.Error, Does.Contain("line 3"));
    }

    [Test]
    public void Replace_OnlyModelBytesChange()
    {
        const string Before = "{ \"stream\":true,\n \"model\" :\"claude-sonnet-4-6\" , \"x\":\"\\u00e9\", \"n\": 1.50e3}";
        var bytes = Encoding.UTF8.GetBytes(Before);

        var after = Encoding.UTF8.GetString(JsonModelField.Replace(bytes, JsonModelField.Scan(bytes), "deepseek-chat"));

        Assert.That(after, Is.EqualTo(Before.Replace("claude-sonnet-4-6", "deepseek-chat", StringComparison.Ordinal)));
    }

    [Test]
    public void Replace_NameNeedingEscapes_StaysValidJson()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"a"}""");

        var after = JsonModelField.Replace(bytes, JsonModelField.Scan(bytes), "we\"ird\\name");

        Assert.That(JsonModelField.Scan(after).Model, Is.EqualTo("we\"ird\\name"));
    }

    [Test]
    public void ReplaceIfPresent_NoModel_ReturnsSameBytes()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"input_tokens":12}""");

        var after = JsonModelField.ReplaceIfPresent(bytes, "client-model");

        Assert.That(after.ToArray(), Is.EqualTo(bytes));
    }

    [Test]
    public void ReplaceIfPresent_ResponseModel_RestoredToClientName()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"id":"msg_1","type":"message","model":"deepseek-chat","content":[]}""");

        var after = Encoding.UTF8.GetString(JsonModelField.ReplaceIfPresent(bytes, "claude-opus-4-7").Span);

        Assert.That(after, Is.EqualTo("""{"id":"msg_1","type":"message","model":"claude-opus-4-7","content":[]}"""));
    }
}
