using System.Net;
using System.Text.Json.Nodes;

namespace CcxProxy.Tests.Support;

/// <summary>Assertions on error answers as a client sees them (docs/protocols.md §5).</summary>
public static class ErrorAssert
{
    /// <summary>
    /// Asserts <c>{"type":"error","error":{"type","message"},"request_id"}</c> with <paramref name="status"/>
    /// and <paramref name="errorType"/>, and returns <c>error.message</c>.
    /// </summary>
    public static string Anthropic(HttpResponseMessage response, JsonNode? json, HttpStatusCode status, string errorType)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status), () => $"body: {json?.ToJsonString()}");
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/json"));
        Assert.That(json, Is.InstanceOf<JsonObject>(), "the body is not a JSON object");
        Assert.That(json!["type"]?.GetValue<string>(), Is.EqualTo("error"), () => json.ToJsonString());
        Assert.That(json["error"]?["type"]?.GetValue<string>(), Is.EqualTo(errorType), () => json.ToJsonString());
        var message = json["error"]?["message"]?.GetValue<string>();
        Assert.That(message, Is.Not.Null.And.Not.Empty, () => json.ToJsonString());
        Assert.That(json["request_id"]?.GetValue<string>(), Is.Not.Null.And.Not.Empty, () => json.ToJsonString());
        return message!;
    }

    /// <summary>Asserts <c>{"error":{"message","type","param","code"}}</c> and returns <c>error.message</c>.</summary>
    public static string OpenAI(HttpResponseMessage response, JsonNode? json, HttpStatusCode status, string errorType)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status), () => $"body: {json?.ToJsonString()}");
        Assert.That(json, Is.InstanceOf<JsonObject>(), "the body is not a JSON object");
        Assert.That(json!["type"], Is.Null, "an OpenAI error has no top-level type");
        Assert.That(json["error"]?["type"]?.GetValue<string>(), Is.EqualTo(errorType), () => json.ToJsonString());
        var message = json["error"]?["message"]?.GetValue<string>();
        Assert.That(message, Is.Not.Null.And.Not.Empty, () => json.ToJsonString());
        return message!;
    }

    /// <summary>Asserts that no header name, header value or body text holds any of <paramref name="secrets"/>.</summary>
    public static void NoSecrets(HttpResponseMessage response, string body, params string[] secrets)
    {
        var headers = string.Join('\n', response.Headers.Concat(response.Content.Headers)
            .Select(h => $"{h.Key}: {string.Join(", ", h.Value)}"));
        foreach (var secret in secrets)
        {
            Assert.That(headers, Does.Not.Contain(secret), "a response header leaks a secret");
            Assert.That(body, Does.Not.Contain(secret), "the response body leaks a secret");
        }
    }
}
