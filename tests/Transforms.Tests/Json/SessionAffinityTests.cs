using System.Text;
using CcxProxy.TestSupport;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Json;

[TestFixture]
public sealed class SessionAffinityTests
{
    private const string SessionId = "2969d95b-e2cd-4233-abff-d5b5204410c5";

    private static ulong? Key(string json, string? header = null) => SessionAffinity.Key(header, Encoding.UTF8.GetBytes(json));

    private static ulong Hash(string text) => StableHash.Of(text);

    // Pinned: replicas must agree on keys, so a change of the hash (or of what it covers) must be deliberate.
    [TestCase("", 0xF52A15E9A9B5E89BUL)]
    [TestCase("a", 0x02C0BDBF481420F8UL)]
    [TestCase("session:" + SessionId, 0x3C645CFA0E13E3B3UL)]
    public void StableHash_Pinned(string text, ulong expected) => Assert.That(Hash(text), Is.EqualTo(expected));

    [Test]
    public void MessagesKey_Pinned() =>
        Assert.That(Key("""{"messages":[{"role":"user","content":"hello"},{"role":"assistant","content":"Hi!"}]}"""), Is.EqualTo(0xEF5E0934EE44F6FDUL));

    [Test]
    public void GeminiContents_KeyedByTheirOpening_AsTheSameConversationInMessagesIs()
    {
        var firstTurn = Key("""{"contents":[{"role":"user","parts":[{"text":"<session_context>"},{"text":"hello"}]}],"systemInstruction":{"parts":[{"text":"sys"}]}}""");
        var laterTurn = Key("""{"contents":[{"role":"user","parts":[{"text":"<session_context>"},{"text":"hello"}]},{"role":"model","parts":[{"functionCall":{"name":"ls","args":{}},"thoughtSignature":"x"}]},{"role":"user","parts":[{"functionResponse":{"name":"ls","response":{"output":"a"}}}]}]}""");
        var other = Key("""{"contents":[{"role":"user","parts":[{"text":"<session_context>"},{"text":"goodbye"}]}]}""");

        Assert.That(firstTurn, Is.Not.Null);
        Assert.That(laterTurn, Is.EqualTo(firstTurn), "every turn of a Gemini conversation stays on one channel");
        Assert.That(other, Is.Not.EqualTo(firstTurn));
        Assert.That(firstTurn, Is.EqualTo(Key("""{"messages":[{"role":"user","content":[{"type":"text","text":"<session_context>"},{"type":"text","text":"hello"}]}]}""")));
    }

    [Test]
    public void Header_KeyIsHashOfSessionPrefix()
    {
        Assert.That(Key("{}", SessionId), Is.EqualTo(Hash("session:" + SessionId)));
        Assert.That(Key("{}", "  " + SessionId + "\t"), Is.EqualTo(Hash("session:" + SessionId)), "trimmed");
    }

    [Test]
    public void Header_WinsOverBody_AndBodyIsNotRead() =>
        Assert.That(Key("not json at all", SessionId), Is.EqualTo(Hash("session:" + SessionId)));

    [Test]
    public void ResponsesPromptCacheKey_IsTheSession_TheSameAsCodexsSessionHeader()
    {
        // Codex sends its session id both as the session-id header and as prompt_cache_key; either keys the same.
        var first = Key($$"""{"model":"gpt-5","input":"list the files","prompt_cache_key":"{{SessionId}}"}""");
        var later = Key($$"""{"model":"gpt-5","input":[{"role":"user","content":"and now?"}],"prompt_cache_key":"{{SessionId}}"}""");

        Assert.That(first, Is.EqualTo(Hash("session:" + SessionId)));
        Assert.That(later, Is.EqualTo(first), "a later turn of the session, with other input, stays on the same channel");
        Assert.That(Key("""{"input":"x","prompt_cache_key":"another-session"}"""), Is.Not.EqualTo(first));
        Assert.That(Key("""{"input":"x","prompt_cache_key":"  "}"""), Is.Null, "a blank key is no session");
    }

    [TestCase("")]
    [TestCase("   ")]
    public void BlankHeader_BodyDecides(string header) =>
        Assert.That(Key("""{"messages":[{"role":"user","content":"hi"}]}""", header), Is.EqualTo(Key("""{"messages":[{"role":"user","content":"hi"}]}""")).And.Not.Null);

    [Test]
    public void LongHeader_Hashed()
    {
        var id = new string('é', 600);
        Assert.That(Key("{}", id), Is.EqualTo(Hash("session:" + id)));
    }

    [TestCaseSource(typeof(RecordedRequests), nameof(RecordedRequests.ClaudeCodeVersions))]
    public void RecordedClaudeCode_HeaderAndMetadataGiveTheSameKey(string version)
    {
        var recorded = RecordedRequests.ClaudeCodeFirstTurn(version);
        var header = recorded["headers"]!["X-Claude-Code-Session-Id"]!.GetValue<string>();
        var body = RecordedRequests.ClaudeCodeFirstTurnBody(version);

        Assert.That(SessionAffinity.SessionIdFromMetadata(body), Is.EqualTo(header));
        Assert.That(SessionAffinity.Key(null, body), Is.EqualTo(Hash("session:" + header)));
        Assert.That(SessionAffinity.Key(header, body), Is.EqualTo(SessionAffinity.Key(null, body)));
    }

    [TestCaseSource(typeof(RecordedRequests), nameof(RecordedRequests.ClaudeCodeVersions))]
    public void RecordedClaudeCode_WithoutSession_KeyFromMessages_StableUnderCacheMarkers(string version)
    {
        var body = RecordedRequests.ClaudeCodeFirstTurn(version)["body"]!.AsObject();
        body.Remove("metadata");
        var withoutSession = Encoding.UTF8.GetBytes(body.ToJsonString());
        foreach (var message in body["messages"]!.AsArray())
        {
            foreach (var block in message!["content"]!.AsArray())
            {
                block!.AsObject().Remove("cache_control");
            }
        }

        var withoutMarkers = Encoding.UTF8.GetBytes(body.ToJsonString());

        Assert.That(SessionAffinity.Key(null, withoutSession), Is.Not.Null);
        Assert.That(SessionAffinity.Key(null, withoutMarkers), Is.EqualTo(SessionAffinity.Key(null, withoutSession)));
        Assert.That(SessionAffinity.SessionIdFromMetadata(withoutSession), Is.Null);
    }

    public static IEnumerable<TestCaseData> MetadataSessions()
    {
        yield return new TestCaseData("""{"metadata":{"user_id":"{\"device_id\":\"5f75\",\"account_uuid\":\"\",\"session_id\":\"2969d95b-e2cd-4233-abff-d5b5204410c5\"}"}}""")
            .SetArgDisplayNames("2.1 JSON-encoded");
        yield return new TestCaseData("""{"metadata":{"user_id":"{\u0022session_id\u0022:\u00222969d95b-e2cd-4233-abff-d5b5204410c5\u0022}"}}""")
            .SetArgDisplayNames("2.1 JSON-encoded, escaped as \\u0022");
        yield return new TestCaseData("""{"metadata":{"user_id":"user_5f75ffa390e5_account_8d0e1c2a-0000-4000-8000-000000000001_session_2969d95b-e2cd-4233-abff-d5b5204410c5"}}""")
            .SetArgDisplayNames("before 2.1");
        yield return new TestCaseData("""{"metadata":{"user_id":"user_x_session_old_session_2969d95b-e2cd-4233-abff-d5b5204410c5"}}""")
            .SetArgDisplayNames("before 2.1, last _session_ wins");
        yield return new TestCaseData("""{"model":"m","metadata":{"other":{"user_id":"nested"},"user_id":"{\"session_id\":\" 2969d95b-e2cd-4233-abff-d5b5204410c5 \"}"},"messages":[{"role":"user","content":"hi"}]}""")
            .SetArgDisplayNames("beats messages, trimmed, nested user_id ignored");
        yield return new TestCaseData("""{"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"{\"session_id\":\"2969d95b-e2cd-4233-abff-d5b5204410c5\"}"}}""")
            .SetArgDisplayNames("after messages");
    }

    [TestCaseSource(nameof(MetadataSessions))]
    public void Metadata_SessionId_SameKeyAsHeader(string json)
    {
        Assert.That(SessionAffinity.SessionIdFromMetadata(Encoding.UTF8.GetBytes(json)), Is.EqualTo(SessionId));
        Assert.That(Key(json), Is.EqualTo(Key("{}", SessionId)));
    }

    [TestCase("""{"metadata":{"user_id":"user-42"}}""")]
    [TestCase("""{"metadata":{"user_id":"user_1_account_2_session_"}}""")]
    [TestCase("""{"metadata":{"user_id":"{\"device_id\":\"d\",\"session_id\":\"\"}"}}""")]
    [TestCase("""{"metadata":{"user_id":"{\"device_id\":\"d\"}"}}""")]
    [TestCase("""{"metadata":{"user_id":"{not json"}}""")]
    [TestCase("""{"metadata":{"user_id":"{\"session_id\":7}"}}""")]
    [TestCase("""{"metadata":{"user_id":null}}""")]
    [TestCase("""{"metadata":"session_x"}""")]
    [TestCase("""{"metadata":{}}""")]
    public void Metadata_NoSession_NoSessionId(string json) =>
        Assert.That(SessionAffinity.SessionIdFromMetadata(Encoding.UTF8.GetBytes(json)), Is.Null);

    [Test]
    public void Metadata_NoSession_FallsBackToMessages()
    {
        Assert.That(Key("""{"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"user-42"}}"""),
            Is.EqualTo(Key("""{"messages":[{"role":"user","content":"hi"}]}""")).And.Not.Null);
    }

    public static IEnumerable<TestCaseData> SameConversation()
    {
        const string Plain = """{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi!"}]}""";
        yield return new TestCaseData(Plain,
            """{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"Say hi","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"Hi!"}]}""")
            .SetArgDisplayNames("string vs text block with cache_control");
        yield return new TestCaseData(
            """{"messages":[{"role":"user","content":[{"type":"text","text":"Say "},{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]},{"role":"assistant","content":"Hi!"}]}""",
            """{"messages":[{"role":"user","content":[{"text":"Say ","type":"text"},{"type":"text","text":"hi"}]},{"role":"assistant","content":[{"type":"text","text":"Hi!","cache_control":{"type":"ephemeral"}}]}]}""")
            .SetArgDisplayNames("cache marker moved, block field order");
        yield return new TestCaseData(Plain,
            """{"messages":[{"content":"Say hi","role":"user"},{"content":"Hi!","role":"assistant"}]}""")
            .SetArgDisplayNames("message field order");
        yield return new TestCaseData(Plain,
            """{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"and again"}]}""")
            .SetArgDisplayNames("only the first two messages count");
        yield return new TestCaseData(Plain,
            """{"messages":[{"role":"user","content":"Say h\u0069"},{"role":"assistant","content":"Hi!"}]}""")
            .SetArgDisplayNames("escaped text");
        yield return new TestCaseData(Plain,
            """{"system":"s","messages":[{"role":"user","name":"bob","content":[{"type":"text","text":"Say hi"},{"type":"image","source":{"type":"base64","data":"AAAA"}}]},{"role":"assistant","content":"Hi!"}],"tools":[]}""")
            .SetArgDisplayNames("non-text blocks and other fields ignored");
        yield return new TestCaseData("""{"messages":[{"role":"user","content":"Say hi"}]}""", Plain)
            .SetArgDisplayNames("first turn and a later turn");
        yield return new TestCaseData(Plain, """{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"More"}]}""")
            .SetArgDisplayNames("later turns differ after the first user message");
        yield return new TestCaseData("""{"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Say hi"}]}""",
            """{"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"Again"}]}""")
            .SetArgDisplayNames("OpenAI system message before the first user message");
    }

    [TestCaseSource(nameof(SameConversation))]
    public void Messages_SameConversation_SameKey(string a, string b)
    {
        Assert.That(Key(a), Is.Not.Null);
        Assert.That(Key(b), Is.EqualTo(Key(a)));
    }

    public static IEnumerable<TestCaseData> OtherConversation()
    {
        const string Plain = """{"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"Hi!"}]}""";
        yield return new TestCaseData(Plain, """{"messages":[{"role":"user","content":"Say ho"},{"role":"assistant","content":"Hi!"}]}""").SetArgDisplayNames("first text");
        yield return new TestCaseData(Plain, """{"messages":[{"role":"system","content":"Say hi"},{"role":"assistant","content":"Hi!"}]}""").SetArgDisplayNames("role");
        yield return new TestCaseData(Plain, """{"messages":[{"role":"assistant","content":"Hi!"},{"role":"user","content":"Say hi"}]}""").SetArgDisplayNames("order");
        yield return new TestCaseData(Plain, """{"prompt":"Say hi"}""").SetArgDisplayNames("prompt");
        yield return new TestCaseData(Plain, """{"messages":[{"role":"system","content":"Be brief"},{"role":"user","content":"Say hi"}]}""").SetArgDisplayNames("system message before");
    }

    [TestCaseSource(nameof(OtherConversation))]
    public void Messages_OtherConversation_OtherKey(string a, string b) => Assert.That(Key(b), Is.Not.EqualTo(Key(a)));

    [TestCase("""{"model":"m","prompt":"Say hi"}""")]
    [TestCase("""{"prompt":["Say hi","other"]}""")]
    [TestCase("""{"prompt":"Say h\u0069","max_tokens":3}""")]
    public void Completions_Prompt_HashOfMessagesPrefix(string json) => Assert.That(Key(json), Is.EqualTo(Hash("messages:Say hi")));

    [TestCase("")]
    [TestCase("not json")]
    [TestCase("[]")]
    [TestCase("\"messages\"")]
    [TestCase("{}")]
    [TestCase("""{"model":"m","max_tokens":5}""")]
    [TestCase("""{"messages":[]}""")]
    [TestCase("""{"messages":["hi",3]}""")]
    [TestCase("""{"messages":"hi"}""")]
    [TestCase("""{"prompt":[1,2,3]}""")]
    [TestCase("""{"prompt":[]}""")]
    [TestCase("""{"messages":[{"role":"user","content":"hi"}],}""")]
    [TestCase("""{"messages":[{"role":"user","content":"hi"}]} {}""")]
    [TestCase("""{"messages":[{"role":"user","content":"hi"}]""")]
    [TestCase("""{"metadata":{"user_id":"user_1_session_abc"}""")]
    public void NoKey_Null(string json)
    {
        Assert.That(Key(json), Is.Null);
        Assert.That(SessionAffinity.SessionIdFromMetadata(Encoding.UTF8.GetBytes(json)), Is.Null);
    }

    [Test]
    public void EveryTruncationOfARealBody_NullNeverThrows()
    {
        var body = RecordedRequests.ClaudeCodeFirstTurnBody(RecordedRequests.ClaudeCodeVersions[0]);
        // Every prefix would be slow on a large body (quadratic); a few hundred spread over it are enough.
        for (var length = 0; length < body.Length; length += Math.Max(1, body.Length / 300))
        {
            Assert.That(SessionAffinity.Key(null, body.AsSpan(0, length)), Is.Null, $"prefix of {length} bytes");
        }
    }
}
