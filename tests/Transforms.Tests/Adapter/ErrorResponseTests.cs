using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Adapter;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Adapter;

/// <summary>
/// The one writer of error answers: a <see cref="GatewayError"/> in the caller's shape, with the header rules
/// clients act on, the same for the gateway's own errors and an upstream's relayed ones.
/// </summary>
[TestFixture]
public sealed class ErrorResponseTests
{
    private static async Task<(HttpResponse Response, JsonNode Body)> WriteAsync(WireProtocol protocol, GatewayError error, string? requestId = "req_1")
    {
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;
        await ErrorResponse.WriteAsync(context.Response, protocol, error, requestId, CancellationToken.None);
        return (context.Response, JsonNode.Parse(Encoding.UTF8.GetString(body.ToArray()))!);
    }

    [Test]
    public async Task Anthropic_TypeFromStatus_MessageAndRequestId()
    {
        var (response, body) = await WriteAsync(WireProtocol.Anthropic, new GatewayError(404, "model 'x' is not served") { Code = "model_not_found" });

        Assert.That(response.StatusCode, Is.EqualTo(404));
        Assert.That(response.ContentType, Is.EqualTo("application/json"));
        Assert.That(body["type"]!.GetValue<string>(), Is.EqualTo("error"));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("not_found_error"));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("model 'x' is not served"));
        Assert.That(body["request_id"]!.GetValue<string>(), Is.EqualTo("req_1"));
    }

    [Test]
    public async Task OpenAI_TypeFromStatus_AndCode()
    {
        var (response, body) = await WriteAsync(WireProtocol.OpenAI, new GatewayError(429, "slow down") { Code = "rate_limit_exceeded" });

        Assert.That(response.StatusCode, Is.EqualTo(429));
        Assert.That(body["error"]!["type"]!.GetValue<string>(), Is.EqualTo("rate_limit_error"));
        Assert.That(body["error"]!["code"]!.GetValue<string>(), Is.EqualTo("rate_limit_exceeded"));
        Assert.That(body["error"]!["message"]!.GetValue<string>(), Is.EqualTo("slow down"));
    }

    [TestCase(401, "false")]
    [TestCase(402, "false")]
    [TestCase(403, "false")]
    [TestCase(400, null)]
    [TestCase(429, null)]
    [TestCase(502, null)]
    public async Task ShouldRetry_ByDefault_FalseOnlyForWhatOnlyTheCallerCanFix(int status, string? header)
    {
        var (response, _) = await WriteAsync(WireProtocol.Anthropic, new GatewayError(status, "no"));

        Assert.That(response.Headers.TryGetValue("x-should-retry", out var value) ? value.ToString() : null, Is.EqualTo(header));
    }

    [Test]
    public async Task ShouldRetry_SaidFalse_OnA502TheCallerCannotFix()
    {
        var (response, _) = await WriteAsync(WireProtocol.OpenAI, new GatewayError(502, "the channel's keys were refused") { ShouldRetry = false });

        Assert.That(response.Headers["x-should-retry"].ToString(), Is.EqualTo("false"));
    }

    [Test]
    public async Task Unauthorized_SaysHowToAuthenticate()
    {
        var (response, _) = await WriteAsync(WireProtocol.Anthropic, new GatewayError(401, "invalid API key"));

        Assert.That(response.Headers.WWWAuthenticate.ToString(), Is.EqualTo("Bearer realm=\"ccx-proxy\""));
    }

    [TestCase(0.2, "1")]
    [TestCase(1.0, "1")]
    [TestCase(2.1, "3")]
    public async Task RetryAfter_WholeSecondsRoundedUp_AtLeastOne(double seconds, string header)
    {
        var (response, _) = await WriteAsync(WireProtocol.Anthropic, new GatewayError(429, "wait") { RetryAfter = TimeSpan.FromSeconds(seconds) });

        Assert.That(response.Headers.RetryAfter.ToString(), Is.EqualTo(header));
    }

    [Test]
    public async Task Headers_OfTheRefusal_AreSent()
    {
        var (response, _) = await WriteAsync(WireProtocol.OpenAI, new GatewayError(429, "limit") { Headers = [new("x-ratelimit-limit-requests", "3")] });

        Assert.That(response.Headers["x-ratelimit-limit-requests"].ToString(), Is.EqualTo("3"));
        Assert.That(response.Headers.ContainsKey("Retry-After"), Is.False, "no hint given, none invented");
    }

    [Test]
    public async Task StartedResponse_NothingWritten()
    {
        var context = new DefaultHttpContext();
        var started = new StartedResponseFeature();
        context.Features.Set<Microsoft.AspNetCore.Http.Features.IHttpResponseFeature>(started);
        context.Response.Body = new MemoryStream();

        await ErrorResponse.WriteAsync(context.Response, WireProtocol.Anthropic, new GatewayError(502, "late"), null, CancellationToken.None);

        Assert.That(context.Response.Body.Length, Is.Zero);
        Assert.That(started.StatusCode, Is.EqualTo(200));
    }

    [Test]
    public async Task Relayed_UpstreamErrorBody_SameHeaderRules()
    {
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;
        var upstream = """{"error":{"type":"insufficient_quota","message":"pay up"}}"""u8.ToArray();

        await ErrorResponse.RelayAsync(context.Response, 402, upstream, CancellationToken.None);

        Assert.That(context.Response.StatusCode, Is.EqualTo(402));
        Assert.That(context.Response.Headers["x-should-retry"].ToString(), Is.EqualTo("false"));
        Assert.That(body.ToArray(), Is.EqualTo(upstream), "the upstream's body, byte for byte");
    }

    [Test]
    public void Result_Default_IsNeitherValueNorError_AndRefusesToBeRead()
    {
        var result = default(GatewayResult<string>);

        Assert.That(() => result.Failed(out _, out _), Throws.InvalidOperationException);
    }

    [Test]
    public void Result_CarriesTheErrorOrTheValue()
    {
        GatewayResult<string> failed = new GatewayError(400, "bad");
        GatewayResult<string> value = "call";

        Assert.That(failed.Failed(out var error, out _), Is.True);
        Assert.That(error!.Status, Is.EqualTo(400));
        Assert.That(value.Failed(out _, out var text), Is.False);
        Assert.That(text, Is.EqualTo("call"));
    }

    [Test]
    public void Result_OfAStruct_CarriesEvenItsDefaultValue_WhileADefaultResultStillRefusesToBeRead()
    {
        GatewayResult<int> zero = 0;
        GatewayResult<ReadOnlyMemory<byte>> empty = ReadOnlyMemory<byte>.Empty;

        Assert.That(zero.Failed(out var error, out var number), Is.False);
        Assert.That(error, Is.Null);
        Assert.That(number, Is.Zero);
        Assert.That(empty.Failed(out _, out var bytes), Is.False);
        Assert.That(bytes.IsEmpty, Is.True);
        Assert.That(zero, Is.Not.EqualTo(default(GatewayResult<int>)), "a value of 0 is not an unset result");
        Assert.That(() => default(GatewayResult<int>).Failed(out _, out _), Throws.InvalidOperationException);
    }

    private sealed class StartedResponseFeature : Microsoft.AspNetCore.Http.Features.HttpResponseFeature
    {
        public override bool HasStarted => true;
    }
}
