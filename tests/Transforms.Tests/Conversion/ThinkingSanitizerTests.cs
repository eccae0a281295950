using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion;

[TestFixture]
public sealed class ThinkingSanitizerTests
{
    private static JsonObject Strip(string json) =>
        JsonNode.Parse(ThinkingSanitizer.StripGatewayThinking(Encoding.UTF8.GetBytes(json)).Span)!.AsObject();

    [Test]
    public void NoMarker_SameMemoryReturned_NothingParsed()
    {
        var bytes = Encoding.UTF8.GetBytes("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"EqQBreal"}]}]}""");
        ReadOnlyMemory<byte> memory = bytes;

        Assert.That(ThinkingSanitizer.StripGatewayThinking(memory).Equals(memory), Is.True);
    }

    [Test]
    public void GatewayMadeThinking_Removed_AnthropicSignedKept()
    {
        var result = Strip($$$"""
            {"model":"m","thinking":{"type":"adaptive"},"messages":[
              {"role":"user","content":"q"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"from deepseek","signature":"{{{GatewayThinking.Signature}}}"},{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"x"}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"from claude","signature":"EqQBreal=="},{"type":"text","text":"a"}]}
            ]}
            """);

        var messages = result["messages"]!.AsArray();
        Assert.That(messages[1]!["content"]!.AsArray().Select(b => b!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "tool_use" }));
        Assert.That(messages[3]!["content"]![0]!["signature"]!.GetValue<string>(), Is.EqualTo("EqQBreal=="));
        Assert.That(result["thinking"], Is.Not.Null, "the last assistant turn kept its real thinking");
    }

    [Test]
    public void LastAssistantTurnLosesThinking_ThinkingTurnedOff_ClearThinkingEditsDropped()
    {
        var result = Strip($$$"""
            {"model":"m","thinking":{"type":"adaptive"},
             "context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"},{"type":"clear_tool_uses_20250919"}]},
             "messages":[
              {"role":"user","content":"q"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"{{{GatewayThinking.Signature}}}"}]},
              {"role":"user","content":"more"}
            ]}
            """);

        Assert.That(result.ContainsKey("thinking"), Is.False);
        Assert.That(result["context_management"]!["edits"]!.AsArray().Select(e => e!["type"]!.GetValue<string>()),
            Is.EqualTo(new[] { "clear_tool_uses_20250919" }));
        Assert.That(result["messages"]![1]!["content"]![0]!["type"]!.GetValue<string>(), Is.EqualTo("text"));
    }

    [Test]
    public void AnthropicSignature_KeptByteForByte_WhenOtherBlocksAreStripped()
    {
        const string Signature = "EqQBCkYIBxgCKkBx+/9zQ==";
        var json = $$$"""
            {"model":"m","messages":[
              {"role":"assistant","content":[{"type":"thinking","thinking":"x","signature":"{{{GatewayThinking.Signature}}}"},{"type":"text","text":"a"}]},
              {"role":"user","content":"b"},
              {"role":"assistant","content":[{"type":"thinking","thinking":"café <ok> & 'q'","signature":"{{{Signature}}}"},{"type":"text","text":"c"}]}
            ]}
            """;

        var output = Encoding.UTF8.GetString(ThinkingSanitizer.StripGatewayThinking(Encoding.UTF8.GetBytes(json)).Span);

        Assert.That(output, Does.Contain($"\"signature\":\"{Signature}\""));
        Assert.That(output, Does.Not.Contain(GatewayThinking.SignaturePrefix));
    }
}
