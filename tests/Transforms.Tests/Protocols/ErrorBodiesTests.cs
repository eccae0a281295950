using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Protocols;

[TestFixture]
public sealed class ErrorBodiesTests
{
    [TestCase(400, "invalid_request_error")]
    [TestCase(401, "authentication_error")]
    [TestCase(402, "billing_error")]
    [TestCase(403, "permission_error")]
    [TestCase(404, "not_found_error")]
    [TestCase(413, "request_too_large")]
    [TestCase(422, "invalid_request_error")]
    [TestCase(429, "rate_limit_error")]
    [TestCase(500, "api_error")]
    [TestCase(502, "api_error")]
    [TestCase(504, "timeout_error")]
    [TestCase(529, "overloaded_error")]
    public void AnthropicType_Status_MapsAsTheApiDoes(int status, string type) =>
        Assert.That(ErrorBodies.AnthropicType(status), Is.EqualTo(type));

    [Test]
    public void Anthropic_Body_HasTheApiShape_AndReadableText()
    {
        var text = Encoding.UTF8.GetString(ErrorBodies.Anthropic("not_found_error", "model 'x' is \"unknown\"", "req_1"));
        var json = JsonNode.Parse(text)!;

        Assert.That(json["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(json["error"]!["type"]!.GetValue<string>(), Is.EqualTo("not_found_error"));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Is.EqualTo("model 'x' is \"unknown\""));
        Assert.That(json["request_id"]!.GetValue<string>(), Is.EqualTo("req_1"));
        Assert.That(text, Does.Contain("model 'x'"));
    }

    [Test]
    public void OpenAI_Body_HasTheApiShape()
    {
        var json = JsonNode.Parse(ErrorBodies.OpenAI("invalid_request_error", "bad", "model_not_found"))!;

        Assert.That(json["error"]!["message"]!.GetValue<string>(), Is.EqualTo("bad"));
        Assert.That(json["error"]!["type"]!.GetValue<string>(), Is.EqualTo("invalid_request_error"));
        Assert.That(json["error"]!["code"]!.GetValue<string>(), Is.EqualTo("model_not_found"));
        Assert.That(json["error"]!.AsObject().ContainsKey("param"), Is.True);
    }

    [TestCase("""{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}""", true)]
    [TestCase("""{"error":{"type":"server_error","message":"x"}}""", false)]
    [TestCase("""{"type":"error","error":"x"}""", false)]
    [TestCase("<html>502</html>", false)]
    public void IsAnthropicError_RecognisesOnlyTheRealShape(string body, bool expected) =>
        Assert.That(ErrorBodies.IsAnthropicError(Encoding.UTF8.GetBytes(body)), Is.EqualTo(expected));

    [TestCase("""{"error":{"message":"OpenAI says no","type":"x"}}""", "OpenAI says no")]
    [TestCase("""{"type":"error","error":{"type":"a","message":"Anthropic says no"}}""", "Anthropic says no")]
    [TestCase("""{"error":"plain"}""", "plain")]
    [TestCase("""{"message":"top"}""", "top")]
    [TestCase("<html/>", null)]
    public void TryReadMessage_FindsTheMessage(string body, string? expected) =>
        Assert.That(ErrorBodies.TryReadMessage(Encoding.UTF8.GetBytes(body)), Is.EqualTo(expected));
}
