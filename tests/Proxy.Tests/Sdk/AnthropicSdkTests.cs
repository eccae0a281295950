using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Anthropic;
using Anthropic.Exceptions;
using Anthropic.Models;
using Anthropic.Models.Messages;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace CcxProxy.Tests.Sdk;

/// <summary>
/// The official Anthropic C# SDK pointed at the gateway's root, as a user's program would be:
/// answers, streams, tool calls, token counts, and each error surfacing as the SDK's own exception.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AnthropicSdkTests
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private WireMockServer _upstream = null!;
    private TestGateway _gateway = null!;

    [SetUp]
    public async Task SetUp()
    {
        _upstream = WireMockUpstream.StartProvider();
        _gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(),
                """ "models": ["claude-*"], "modelMapping": { "opus": "up-opus", "sonnet": "up-sonnet" }"""),
        });
    }

    [TearDown]
    public async Task TearDown()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    private AnthropicClient Client(string apiKey = TestGateway.AccessKey) => new()
    {
        ApiKey = apiKey,
        // The gateway's root, as ANTHROPIC_BASE_URL would be; the SDK adds /v1/messages.
        BaseUrl = _gateway.BaseUrl.GetLeftPart(UriPartial.Authority),
        MaxRetries = 0,
        Timeout = CallTimeout,
    };

    private static MessageCreateParams Create(string model, string text = "hi") => new()
    {
        Model = model,
        MaxTokens = 64,
        Messages = [new UserMessageParam { Content = text }],
    };

    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    [Test]
    public async Task Create_MappedModel_AnswerTextAndClientModel_UpstreamSawMappedModel()
    {
        using var client = Client();

        var message = await client.Messages.Create(Create("claude-opus-4-7"), Ct).WaitAsync(CallTimeout);

        Assert.That(message.Model.Raw(), Is.EqualTo("claude-opus-4-7"));
        Assert.That(message.Content, Has.Count.EqualTo(1));
        Assert.That(message.Content[0].TryPickText(out var text), Is.True);
        Assert.That(text!.Text, Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(message.StopReason!.Raw(), Is.EqualTo("end_turn"));
        var seen = _upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages"));
        Assert.That(seen.Model, Is.EqualTo("up-opus"));
        Assert.That(seen.Header("x-api-key"), Is.EqualTo(FakeKeys.Upstream));
    }

    [Test]
    public async Task CreateStreaming_TextArrivesInOrder_EndsWithMessageStop()
    {
        using var client = Client();
        var types = new List<string>();
        var text = new StringBuilder();
        string? startModel = null;

        await foreach (var ev in client.Messages.CreateStreaming(Create("claude-sonnet-4-6"), Ct).WithCancellation(Ct))
        {
            types.Add(ev.Type.Raw());
            if (ev.TryPickStart(out var start))
            {
                startModel = start!.Message.Model.Raw();
            }
            else if (ev.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickText(out var piece))
            {
                text.Append(piece!.Text);
            }
        }

        Assert.That(startModel, Is.EqualTo("claude-sonnet-4-6"));
        Assert.That(text.ToString(), Is.EqualTo(FakeUpstreamOptions.DefaultText));
        Assert.That(types.First(), Is.EqualTo("message_start"));
        Assert.That(types.Last(), Is.EqualTo("message_stop"));
        Assert.That(types.Count(t => t == "content_block_delta"), Is.EqualTo(20), "every delta is relayed");
        Assert.That(_upstream.Received().Single().Model, Is.EqualTo("up-sonnet"));
        Assert.That(_upstream.Received().Single().IsStream, Is.True);
    }

    [Test]
    public async Task CreateStreaming_ToolUseAnswer_AggregatesToToolUseBlockWithInput()
    {
        var input = new JsonObject { ["path"] = "/tmp/a.txt", ["lines"] = new JsonArray(1, 2, 3), ["options"] = new JsonObject { ["follow"] = true } };
        _upstream.AnswerEveryRequest(Response.Create().WithEvents(request => FakeAnthropic.ToolUseStream(request.Model!, "toolu_01ABC", "read_file", input)));
        using var client = Client();

        var message = await client.Messages.CreateStreaming(Create("claude-opus-4-7", "read /tmp/a.txt"), Ct).Aggregate().WaitAsync(CallTimeout);

        Assert.That(message.Model.Raw(), Is.EqualTo("claude-opus-4-7"));
        Assert.That(message.StopReason!.Raw(), Is.EqualTo("tool_use"));
        Assert.That(message.Content, Has.Count.EqualTo(1));
        Assert.That(message.Content[0].TryPickToolUse(out var toolUse), Is.True);
        Assert.That(toolUse!.ID, Is.EqualTo("toolu_01ABC"));
        Assert.That(toolUse.Name, Is.EqualTo("read_file"));
        var received = JsonNode.Parse(JsonSerializer.Serialize(toolUse.Input));
        Assert.That(JsonNode.DeepEquals(received, input), Is.True, () => received?.ToJsonString() ?? "null");
    }

    [Test]
    public async Task CountTokens_ReturnsUpstreamCount_WithMappedModel()
    {
        using var client = Client();

        var count = await client.Messages.CountTokens(new MessageCountTokensParams
        {
            Model = "claude-opus-4-7",
            Messages = [new UserMessageParam { Content = "count these tokens please" }],
        }, Ct).WaitAsync(CallTimeout);

        var seen = _upstream.Received().Single();
        Assert.That(seen.Path, Is.EqualTo("/v1/messages/count_tokens"));
        Assert.That(seen.Model, Is.EqualTo("up-opus"));
        // The fake counts body length / 4: the number the SDK shows is the upstream's.
        Assert.That(count.InputTokens, Is.EqualTo(seen.Body.Length / 4));
    }

    [Test]
    public async Task Create_BadKey_ThrowsUnauthorized()
    {
        using var client = Client("ccx-wrong-key-1234");

        var ex = await Assert.ThrowsAsync<AnthropicUnauthorizedException>(() => client.Messages.Create(Create("claude-opus-4-7"), Ct).WaitAsync(CallTimeout));

        Assert.That(ex!.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(ex.ErrorType, Is.EqualTo(ErrorType.AuthenticationError));
        Assert.That(ex.ResponseBody, Does.Contain("invalid API key"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task CreateStreaming_BadKey_ThrowsUnauthorized()
    {
        using var client = Client("ccx-wrong-key-1234");

        var ex = await Assert.ThrowsAsync<AnthropicUnauthorizedException>(async () =>
        {
            await foreach (var _ in client.Messages.CreateStreaming(Create("claude-opus-4-7"), Ct).WithCancellation(Ct))
            {
            }
        });

        Assert.That(ex!.ErrorType, Is.EqualTo(ErrorType.AuthenticationError));
    }

    [Test]
    public async Task Create_UnknownModel_ThrowsNotFoundNamingModel()
    {
        using var client = Client();

        var ex = await Assert.ThrowsAsync<AnthropicNotFoundException>(() => client.Messages.Create(Create("gpt-4o"), Ct).WaitAsync(CallTimeout));

        Assert.That(ex!.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(ex.ErrorType, Is.EqualTo(ErrorType.NotFoundError));
        Assert.That(ex.ResponseBody, Does.Contain("gpt-4o"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Create_Upstream529_ThrowsServerErrorWithOverloadedType([Values] bool stream)
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.AnthropicError(529, "overloaded_error", "Overloaded"));
        using var client = Client();

        var ex = await Assert.ThrowsAsync<Anthropic5xxException>(async () =>
        {
            if (stream)
            {
                await foreach (var _ in client.Messages.CreateStreaming(Create("claude-opus-4-7"), Ct).WithCancellation(Ct))
                {
                }
            }
            else
            {
                await client.Messages.Create(Create("claude-opus-4-7"), Ct).WaitAsync(CallTimeout);
            }
        });

        Assert.That((int)ex!.StatusCode, Is.EqualTo(529));
        Assert.That(ex.ErrorType, Is.EqualTo(ErrorType.OverloadedError));
        Assert.That(_upstream.Received(), Has.Count.EqualTo(1), "MaxRetries is 0: one attempt");
    }

    private static AnthropicClient ClientFor(TestGateway gateway) => new()
    {
        ApiKey = TestGateway.AccessKey,
        BaseUrl = gateway.BaseUrl.GetLeftPart(UriPartial.Authority),
        MaxRetries = 0,
        Timeout = CallTimeout,
    };

    [Test]
    public async Task Create_BodyOverLimit_ThrowsRequestTooLarge()
    {
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl()) },
            new Dictionary<string, string?> { ["Proxy:MaxRequestBodyBytes"] = "2048" });
        using var client = ClientFor(gateway);

        var ex = await Assert.ThrowsAsync<Anthropic4xxException>(() => client.Messages.Create(Create("claude-opus-4-7", new string('x', 8192)), Ct).WaitAsync(CallTimeout));

        Assert.That((int)ex!.StatusCode, Is.EqualTo(413));
        Assert.That(ex.ResponseBody, Does.Contain("request_too_large"));
        Assert.That(_upstream.Received(), Is.Empty);
    }

    [Test]
    public async Task Create_UpstreamUnreachable_Throws502ApiError()
    {
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["down.json"] = TestGateway.AnthropicChannel(FreePort.ClosedUrl()) });
        using var client = ClientFor(gateway);

        var ex = await Assert.ThrowsAsync<Anthropic5xxException>(() => client.Messages.Create(Create("claude-opus-4-7"), Ct).WaitAsync(CallTimeout));

        Assert.That((int)ex!.StatusCode, Is.EqualTo(502));
        Assert.That(ex.ErrorType, Is.EqualTo(ErrorType.ApiError));
        Assert.That(ex.ResponseBody, Does.Contain("down"));
    }

    [Test]
    public async Task Create_UpstreamHangs_Throws504TimeoutError()
    {
        _upstream.AnswerEveryRequest(WireMockUpstream.SilentBeyond(TimeSpan.FromSeconds(1)));
        await using var gateway = await TestGateway.StartAsync(
            new Dictionary<string, string> { ["slow.json"] = TestGateway.AnthropicChannel(_upstream.BaseUrl(), """ "timeouts": { "responseHeaders": 1 } """) });
        using var client = ClientFor(gateway);

        var ex = await Assert.ThrowsAsync<Anthropic5xxException>(() => client.Messages.Create(Create("claude-opus-4-7"), Ct).WaitAsync(CallTimeout));

        Assert.That((int)ex!.StatusCode, Is.EqualTo(504));
        Assert.That(ex.ErrorType, Is.EqualTo(ErrorType.TimeoutError));
    }

    [Test]
    public async Task CreateStreaming_UpstreamCutMidStream_SdkRaisesAnErrorAfterThePartialText()
    {
        // A stream cut mid-way: the Kestrel fake, which WireMock cannot be.
        await using var cutting = await FakeUpstream.StartAsync();
        cutting.Handler = (_, ctx) => FakeAnthropic.WriteStreamAsync(ctx,
        [
            FakeAnthropic.MessageStart("up-opus"),
            FakeAnthropic.TextBlockStart(0),
            FakeAnthropic.TextDelta(0, "partial "),
            StreamStep.Abort(),
        ], ctx.RequestAborted);
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(cutting.BaseUrl) });
        using var client = ClientFor(gateway);
        var text = new StringBuilder();

        var ex = await Assert.CatchAsync(async () =>
        {
            await foreach (var item in client.Messages.CreateStreaming(Create("claude-opus-4-7"), Ct).WithCancellation(Ct))
            {
                if (item.TryPickContentBlockDelta(out var delta) && delta.Delta.TryPickText(out var t))
                {
                    text.Append(t.Text);
                }
            }
        });

        // The client is told the stream failed; it is not handed a silently truncated answer.
        Assert.That(text.ToString(), Is.EqualTo("partial "));
        Assert.That(ex!.ToString(), Does.Contain("api_error").Or.Contain("stream broke"));
    }
}
