using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

/// <summary>docs/protocols.md §5: upstream errors shown in the caller's protocol (ErrorMapping lives in Protocols; tested with the conversions).</summary>
[TestFixture]
public sealed class ErrorMappingTests
{
    private static (int Status, JsonNode Body) OToA(int status, string body)
    {
        var (s, b) = ErrorMapping.UpstreamToAnthropic(status, Encoding.UTF8.GetBytes(body), "req_1");
        return (s, JsonNode.Parse(b)!);
    }

    private static (int Status, JsonNode Body) AToO(int status, string body)
    {
        var (s, b) = ErrorMapping.AnthropicToOpenAI(status, Encoding.UTF8.GetBytes(body));
        return (s, JsonNode.Parse(b)!);
    }

    private static string OpenAIError(string message, string type, string? code = null) =>
        new JsonObject { ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = null, ["code"] = code } }.ToJsonString();

    [TestCase(400, "invalid_request_error", 400, "invalid_request_error")]
    [TestCase(401, "invalid_api_key", 401, "authentication_error")]
    [TestCase(403, "permission", 403, "permission_error")]
    [TestCase(404, "not_found", 404, "not_found_error")]
    [TestCase(408, "timeout", 408, "timeout_error")]
    [TestCase(413, "too_big", 413, "request_too_large")]
    [TestCase(429, "requests", 429, "rate_limit_error")]
    [TestCase(500, "server_error", 500, "api_error")]
    [TestCase(502, "server_error", 529, "overloaded_error")]
    [TestCase(503, "server_error", 529, "overloaded_error")]
    [TestCase(504, "server_error", 504, "timeout_error")]
    public void UpstreamToAnthropic_StatusAndType_MapAsSection5Says(int status, string openAIType, int expectedStatus, string anthropicType)
    {
        var (mapped, body) = OToA(status, OpenAIError("upstream says no", openAIType));

        Assert.That(mapped, Is.EqualTo(expectedStatus));
        Assert.That(body["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo(anthropicType));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("upstream says no"));
        Assert.That(body["request_id"]!.GetValue<string>(), Is.EqualTo("req_1"));
    }

    [TestCase("insufficient_quota", null)]
    [TestCase("requests", "insufficient_quota")]
    public void UpstreamToAnthropic_InsufficientQuota_Is402BillingError(string type, string? code)
    {
        var (status, body) = OToA(429, OpenAIError("You exceeded your current quota", type, code));

        Assert.That(status, Is.EqualTo(402));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("billing_error"));
    }

    [Test]
    public void UpstreamToAnthropic_ContextLengthExceeded_IsRewordedTheAnthropicWay()
    {
        var (status, body) = OToA(400, OpenAIError(
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded"));

        Assert.That(status, Is.EqualTo(400));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("invalid_request_error"));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("prompt is too long: 9000 tokens > 8192 maximum"));
    }

    [Test]
    public void UpstreamToAnthropic_ContextOverflowWithoutNumbers_KeepsTheMessageAfterThePrefix()
    {
        var (_, body) = OToA(400, OpenAIError("Input is longer than the context window", "invalid_request_error", "context_length_exceeded"));

        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("prompt is too long: Input is longer than the context window"));
    }

    [Test]
    public void UpstreamToAnthropic_DeepSeekStyleOverflowWithoutCode_IsRecognised()
    {
        var (_, body) = OToA(400, OpenAIError("This model's maximum context length is 65536 tokens. However, you requested 70000 tokens (69000 in the messages, 1000 in the completion).", "invalid_request_error"));

        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("prompt is too long: 70000 tokens > 65536 maximum"));
    }

    [Test]
    public void UpstreamToAnthropic_AnOutputLimitTooHigh_IsNotAContextOverflow()
    {
        // Claude Code compacts the conversation on "prompt is too long": an error about the output limit must not read as one.
        var (status, body) = OToA(400, OpenAIError("max_tokens exceeds the maximum number of tokens allowed (8192)", "invalid_request_error"));

        Assert.That((status, body["error"]!["message"]!.GetValue<string>()), Is.EqualTo((400, "max_tokens exceeds the maximum number of tokens allowed (8192)")));
    }

    [TestCase(502, "<html><body>502 Bad Gateway</body></html>", 529)]
    [TestCase(500, "", 500)]
    public void UpstreamToAnthropic_NonJsonBody_NamesTheStatus(int status, string body, int expectedStatus)
    {
        var (mapped, json) = OToA(status, body);

        Assert.That(mapped, Is.EqualTo(expectedStatus));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("HTTP " + status).And.Not.Contain("<html>"));
    }

    [Test]
    public void UpstreamToAnthropic_OpenRouterNumericCode_AndNullRequestId()
    {
        var (status, bytes) = ErrorMapping.UpstreamToAnthropic(429, Encoding.UTF8.GetBytes("""{"error":{"code":429,"message":"Rate limited","metadata":{}}}"""), null);
        var body = JsonNode.Parse(bytes)!.AsObject();

        Assert.That(status, Is.EqualTo(429));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("rate_limit_error"));
        Assert.That(body.ContainsKey("request_id"), Is.False);
    }

    [TestCase(400, "invalid_request_error", 400, "invalid_request_error")]
    [TestCase(401, "authentication_error", 401, "authentication_error")]
    [TestCase(402, "billing_error", 402, "insufficient_quota")]
    [TestCase(403, "permission_error", 403, "permission_error")]
    [TestCase(404, "not_found_error", 404, "not_found_error")]
    [TestCase(413, "request_too_large", 413, "invalid_request_error")]
    [TestCase(429, "rate_limit_error", 429, "rate_limit_error")]
    [TestCase(500, "api_error", 500, "server_error")]
    [TestCase(504, "timeout_error", 504, "server_error")]
    [TestCase(529, "overloaded_error", 503, "server_error")]
    public void AnthropicToOpenAI_KeepsTheStatusExcept529_AndMapsTheType(int status, string anthropicType, int expectedStatus, string openAIType)
    {
        var (mapped, body) = AToO(status, "{\"type\":\"error\",\"error\":{\"type\":\"" + anthropicType + "\",\"message\":\"Nope\"},\"request_id\":\"req_9\"}");

        Assert.That(mapped, Is.EqualTo(expectedStatus));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo(openAIType));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("Nope"));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo(anthropicType));
        Assert.That(body["error"]!.AsObject().ContainsKey("param"), Is.True);
    }

    [Test]
    public void AnthropicToOpenAI_PromptTooLong_GetsTheContextLengthExceededCode()
    {
        var (status, body) = AToO(400, """{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208000 tokens > 200000 maximum"}}""");

        Assert.That(status, Is.EqualTo(400));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo("context_length_exceeded"));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("prompt is too long: 208000 tokens > 200000 maximum"));
    }

    [TestCase(529, "<html>overloaded</html>", 503, "server_error")]
    [TestCase(401, "Unauthorized", 401, "authentication_error")]
    public void AnthropicToOpenAI_NonJsonBody_NamesTheStatus(int status, string body, int expectedStatus, string type)
    {
        var (mapped, json) = AToO(status, body);

        Assert.That(mapped, Is.EqualTo(expectedStatus));
        Assert.That(json["error"]!["type"]!.GetValue<string>(), Is.EqualTo(type));
        Assert.That(json["error"]!["message"]!.GetValue<string>(), Does.Contain("HTTP " + status));
    }
}
