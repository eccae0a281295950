using System.Net;
using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Routing;

/// <summary>
/// An error event in the upstream's stream before any content: with another channel left it answers and the client
/// sees one clean stream; on the only channel the error reaches the client as an error event, never a fake stop.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class StreamErrorEventTests : TwoProviders
{
    [Test]
    public async Task OpenAIChannel_OverloadedErrorChunkBeforeContent_SecondChannelAnswersInvisibly([Values] bool openAIClient)
    {
        A.AnswerEveryRequest(Response.Create().WithEvents(_ =>
            [FakeOpenAI.RoleChunk("m"), StreamStep.DataOnly("""{"error":{"message":"overloaded","type":"overloaded_error"}}""")]));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string>
        {
            ["a.json"] = TestGateway.OpenAIChannel(A.BaseUrl(), """ "priority": 0 """),
            ["b.json"] = TestGateway.AnthropicChannel(B.BaseUrl(), """ "priority": 1 """),
        });

        if (openAIClient)
        {
            var (status, chunks) = await UpstreamFaultTests.StreamAsync(gateway, "/v1/chat/completions",
                """{"model":"claude-sonnet-4-6","stream":true,"messages":[{"role":"user","content":"hi"}]}""");

            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(chunks.Select(c => c.Data), Has.None.Contains("\"error\""));
            Assert.That(chunks[^1].Data, Is.EqualTo("[DONE]"));
            var json = chunks.Where(c => c.Data != "[DONE]").Select(c => JsonNode.Parse(c.Data)!).ToList();
            Assert.That(json.Count(c => c["choices"]?.AsArray().Any(choice => choice?["delta"]?["role"] is not null) == true), Is.EqualTo(1), "one role chunk");
            Assert.That(string.Concat(json.SelectMany(c => c["choices"]?.AsArray() ?? []).Select(choice => choice?["delta"]?["content"]?.GetValue<string>())),
                Is.EqualTo(FakeUpstreamOptions.DefaultText));
        }
        else
        {
            var (status, events) = await UpstreamFaultTests.StreamAsync(gateway);
            UpstreamFaultTests.AssertOneCleanAnswer(status, events);
        }

        Assert.That(A.Received(), Has.Count.EqualTo(1));
        Assert.That(B.Received(), Has.Count.EqualTo(1));
    }

    [Test]
    public async Task OverloadedErrorEventBeforeContent_OnlyCandidate_ClientGetsOverloadedErrorEvent()
    {
        A.AnswerEveryRequest(Response.Create().WithEvents(_ => [FakeAnthropic.MessageStart("m"), FakeAnthropic.Error("overloaded_error", "Overloaded")]));
        await using var gateway = await TestGateway.StartAsync(new Dictionary<string, string> { ["a.json"] = TestGateway.AnthropicChannel(A.BaseUrl()) });

        var (status, events) = await UpstreamFaultTests.StreamAsync(gateway);

        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), "the only candidate commits at once: the stream carries the error");
        Assert.That(events.Count(e => e.Type == "message_start"), Is.LessThanOrEqualTo(1));
        Assert.That(events[^1].Type, Is.EqualTo("error"));
        Assert.That(UpstreamFaultTests.ErrorType(events[^1]), Is.EqualTo("overloaded_error"));
        Assert.That(events.Select(e => e.Type), Does.Not.Contain("message_stop"));
        Assert.That(A.Received(), Has.Count.EqualTo(1));
    }
}
