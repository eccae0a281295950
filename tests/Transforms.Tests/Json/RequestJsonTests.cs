using System.Text;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Json;

[TestFixture]
public sealed class RequestJsonTests
{
    private static GatewayResult<RequestScan> Scan(string json) => RequestJson.Scan(Encoding.UTF8.GetBytes(json));

    private static RequestScan Scanned(byte[] json) => RequestJson.Scan(json).Value();

    [TestCase("""{"model":"claude-opus-4-7","max_tokens":1}""", "claude-opus-4-7")]
    [TestCase("""{ "messages": [{"model":"nested"}], "model" : "top" }""", "top")]
    [TestCase("""{"metadata":{"model":"nested"},"model":"top"}""", "top")]
    [TestCase("""{"model":"caf\u00e9"}""", "café")]
    public void Scan_TopLevelModel_Found(string json, string expected)
    {
        var scan = Scan(json).Value();

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
    [TestCase("""{"model":"a","model":"b"}""", "duplicate top-level field \"model\"")]
    [TestCase("""{"model":"a","stream":true,"stream":false}""", "duplicate top-level field \"stream\"")]
    [TestCase("""{"model":"a","mod\u0065l":"b"}""", "duplicate top-level field \"model\"")]
    [TestCase("""{"model":"claude\ud800"}""", "model: must be valid Unicode text")]
    [TestCase("""{"model":"claude\udc00x"}""", "model: must be valid Unicode text")]
    public void Scan_BadBody_ErrorSaysWhy(string json, string error)
    {
        Assert.That(Scan(json).Refusal(), Does.Contain(error));
    }

    [Test]
    public void Scan_DuplicateKeysNested_Allowed()
    {
        Assert.That(Scan("""{"model":"m","metadata":{"a":1,"a":2}}""").Value().Model, Is.EqualTo("m"));
    }

    [Test]
    public void Scan_ModelAtTheCap_Accepted_OneMore_Refused()
    {
        Assert.That(Scan("{\"model\":\"" + new string('m', RequestJson.MaxModelLength) + "\"}").Value().Model, Has.Length.EqualTo(RequestJson.MaxModelLength));
        Assert.That(Scan("{\"model\":\"" + new string('m', RequestJson.MaxModelLength + 1) + "\"}").Refusal(), Does.Contain("longer than 256"));
    }

    [Test]
    public void Scan_InvalidUtf8AnywhereInTheBody_RefusedNamingTheByte()
    {
        var body = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"user","content":"ab"}]}""");
        var at = Array.IndexOf(body, (byte)'b');
        body[at] = 0xFF;

        Assert.That(RequestJson.Scan(body).Refusal(), Does.Contain("not valid UTF-8").And.Contain($"byte {at}"));
    }

    [Test]
    public void Scan_LoneSurrogateInContent_NotTheScansBusiness()
    {
        Assert.That(Scan("""{"model":"m","messages":[{"role":"user","content":"cut \ud83d"}]}""").Value().Model, Is.EqualTo("m"));
    }

    [Test]
    public void Scan_MalformedJson_ErrorGivesPosition()
    {
        Assert.That(Scan("{\n  \"model\": \"x\",\n  \"max_tokens\": oops\n}").Refusal(), Does.Contain("line 3"));
    }

    [Test]
    public void Replace_OnlyModelBytesChange()
    {
        const string Before = "{ \"stream\":true,\n \"model\" :\"claude-sonnet-4-6\" , \"x\":\"\\u00e9\", \"n\": 1.50e3}";
        var bytes = Encoding.UTF8.GetBytes(Before);

        var after = Encoding.UTF8.GetString(RequestJson.Rewrite(bytes, Scanned(bytes), "deepseek-chat").Span);

        Assert.That(after, Is.EqualTo(Before.Replace("claude-sonnet-4-6", "deepseek-chat", StringComparison.Ordinal)));
    }

    [Test]
    public void Replace_NameNeedingEscapes_StaysValidJson()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"a"}""");

        var after = RequestJson.Rewrite(bytes, Scanned(bytes), "we\"ird\\name");

        Assert.That(RequestJson.Scan(after.Span).Value().Model, Is.EqualTo("we\"ird\\name"));
    }

    [Test]
    public void ReplaceIfPresent_NoModel_ReturnsSameBytes()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"input_tokens":12}""");

        var after = RequestJson.ReplaceModelIfPresent(bytes, "client-model");

        Assert.That(after.ToArray(), Is.EqualTo(bytes));
    }

    [Test]
    public void ModelFromThePath_ScannedAsTheModel_NeverSplicedIntoTheBody()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"model":"ignored"}""");

        var scan = RequestJson.Scan(bytes, "gemini-2.5-pro").Value();
        var after = RequestJson.Rewrite(bytes, scan, "gemini-2.5-flash");

        Assert.That(scan.Model, Is.EqualTo("gemini-2.5-pro"), "the URL names the model; a body field does not");
        Assert.That(after.ToArray(), Is.EqualTo(bytes), "the body is left as it is");
    }

    [Test]
    public void Rewrite_ModelAndMaxTokens_BothSplicedInPlace()
    {
        const string Before = """{"max_tokens": 64000,"model":"claude-opus-4-7","messages":[{"max_tokens":1}]}""";
        var bytes = Encoding.UTF8.GetBytes(Before);
        var scan = Scanned(bytes);

        var after = Encoding.UTF8.GetString(RequestJson.Rewrite(bytes, scan, "deepseek-reasoner", 8192).Span);

        Assert.That(scan.MaxTokens, Is.EqualTo(64000));
        Assert.That(after, Is.EqualTo("""{"max_tokens": 8192,"model":"deepseek-reasoner","messages":[{"max_tokens":1}]}"""));
    }

    [Test]
    public void Rewrite_NothingChanges_SameMemoryReturned()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"m","max_tokens":5}""");
        ReadOnlyMemory<byte> memory = bytes;

        var after = RequestJson.Rewrite(memory, Scanned(bytes), "m", 5);

        Assert.That(after.Equals(memory), Is.True);
    }

    [Test]
    public void ReplaceIfPresent_ResponseModel_RestoredToClientName()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"id":"msg_1","type":"message","model":"deepseek-chat","content":[]}""");

        var after = Encoding.UTF8.GetString(RequestJson.ReplaceModelIfPresent(bytes, "claude-opus-4-7").Span);

        Assert.That(after, Is.EqualTo("""{"id":"msg_1","type":"message","model":"claude-opus-4-7","content":[]}"""));
    }

    [TestCase("""{"model":"m","system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=1;"},{"type":"text","text":"You are"}]}""",
        """{"model":"m","system":[{"type":"text","text":"You are"}]}""")]
    [TestCase("""{"model":"m","system":[{"type":"text","text":"You are"}, {"text":"x-anthropic-billing-header: v","type":"text"} ]}""",
        """{"model":"m","system":[{"type":"text","text":"You are"} ]}""")]
    [TestCase("""{"system":[ {"type":"text","text":"x-anthropic-billing-header: v"} ],"model":"m"}""",
        """{"system":[  ],"model":"m"}""")]
    [TestCase("""{"model":"m","system":[{"type":"text","text":"no header here"}]}""",
        """{"model":"m","system":[{"type":"text","text":"no header here"}]}""")]
    [TestCase("""{"model":"m","system":"x-anthropic-billing-header: a plain string is left alone"}""",
        """{"model":"m","system":"x-anthropic-billing-header: a plain string is left alone"}""")]
    public void Rewrite_DropAttribution_RemovesOnlyThatBlock(string before, string after)
    {
        var bytes = Encoding.UTF8.GetBytes(before);

        var result = Encoding.UTF8.GetString(RequestJson.Rewrite(bytes, Scanned(bytes), "m", dropAttribution: true).Span);

        Assert.That(result, Is.EqualTo(after));
    }

    [TestCase("""{"model":"m","stream":true,"stream_options":{"include_usage":true}}""", true, true)]
    [TestCase("""{"model":"m","stream":true,"stream_options":{"include_usage":false}}""", true, false)]
    [TestCase("""{"stream_options":{"x":[1,{"include_usage":true}]},"model":"m"}""", false, false)]
    [TestCase("""{"model":"m"}""", false, false)]
    public void Scan_StreamAndIncludeUsage_Read(string json, bool stream, bool includeUsage)
    {
        var scan = Scan(json).Value();

        Assert.That(scan.Model, Is.EqualTo("m"));
        Assert.That(scan.Stream, Is.EqualTo(stream));
        Assert.That(scan.IncludeUsage, Is.EqualTo(includeUsage));
    }

    [TestCase("""{"model":"m","input":"hi"}""", false, false)]
    [TestCase("""{"model":"m","input":"hi","store":false}""", true, false)]
    [TestCase("""{"model":"m","input":"hi","store":true,"previous_response_id":"resp_1"}""", false, true)]
    [TestCase("""{"model":"m","input":"hi","previous_response_id":null,"metadata":{"store":false}}""", false, false)]
    public void Scan_ResponsesStoreAndContinuation_ReadInTheOneScan(string json, bool storeFalse, bool continues)
    {
        var scan = Scan(json).Value();

        Assert.That(scan.StoreFalse, Is.EqualTo(storeFalse));
        Assert.That(scan.ContinuesResponse, Is.EqualTo(continues));
    }

    [TestCaseSource(typeof(CcxProxy.TestSupport.RecordedRequests), nameof(CcxProxy.TestSupport.RecordedRequests.ClaudeCodeVersions))]
    public void Rewrite_RecordedClaudeCodeRequest_AttributionGoneEverythingElseIntact(string version)
    {
        var bytes = CcxProxy.TestSupport.RecordedRequests.ClaudeCodeFirstTurnBody(version);
        var scan = Scanned(bytes);

        var result = RequestJson.Rewrite(bytes, scan, "deepseek-chat", dropAttribution: true);

        var before = System.Text.Json.Nodes.JsonNode.Parse(bytes)!.AsObject();
        var after = System.Text.Json.Nodes.JsonNode.Parse(result.Span)!.AsObject();
        Assert.That(scan.AttributionBlock, Is.Not.Null);
        Assert.That(after["model"]!.GetValue<string>(), Is.EqualTo("deepseek-chat"));
        Assert.That(after["system"]!.AsArray(), Has.Count.EqualTo(before["system"]!.AsArray().Count - 1));
        Assert.That(after["system"]!.ToJsonString(), Does.Not.Contain("x-anthropic-billing-header"));
        before.Remove("model");
        after.Remove("model");
        before["system"]!.AsArray().RemoveAt(0);
        Assert.That(after.ToJsonString(), Is.EqualTo(before.ToJsonString()));
    }
}
