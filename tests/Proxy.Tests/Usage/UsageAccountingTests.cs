using System.Text.Json.Nodes;
using CcxProxy.TestSupport;
using CcxProxy.Tests.Support;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace CcxProxy.Tests.Usage;

/// <summary>
/// Three gateways sharing one Redis account every answer, streamed or not, converted or not; the totals the
/// admin endpoint reports equal what the fake upstream said it used.
/// </summary>
[TestFixture]
[Category("Redis")]
[CancelAfter(60_000)]
public sealed class UsageAccountingTests
{
    private const string AdminKey = "ccx-admin-key-for-tests-5d1e";

    [Test]
    public async Task ThreeGateways_UsageTotals_EqualWhatTheUpstreamReported()
    {
        await using var redis = await RedisServer.StartAsync();
        using var upstream = WireMockUpstream.Start();
        upstream.Given(Request.Create().WithPath("/v1/messages").UsingPost()).RespondWith(Response.Create().WithAnswer(request => request.IsStream
            ? StockAnswer.OfStream(
                [
                    FakeAnthropic.MessageStart("m", 13),
                    FakeAnthropic.TextBlockStart(0), FakeAnthropic.TextDelta(0, "hi"), FakeAnthropic.BlockStop(0),
                    FakeAnthropic.MessageDelta("end_turn", 17), FakeAnthropic.MessageStop(),
                ])
            : StockAnswer.OfJson(200, FakeAnthropic.Message("m", [FakeAnthropic.TextBlock("hi")], inputTokens: 11, outputTokens: 7))));
        var settings = new Dictionary<string, string?> { ["Redis:Configuration"] = redis.ConnectionString, ["Admin:AccessKey"] = AdminKey };
        var gateways = new List<TestGateway>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                gateways.Add(await TestGateway.StartAsync(new Dictionary<string, string> { ["main.json"] = TestGateway.AnthropicChannel(upstream.BaseUrl()) }, settings));
            }

            for (var i = 0; i < 9; i++)
            {
                var gateway = gateways[i % 3];
                var stream = i % 2 == 0;
                var (response, _) = await gateway.SendAsync(gateway.Post("/v1/messages",
                    $$"""{"model":"claude-sonnet-4-6","max_tokens":8,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"hi"}]}"""));
                await response.Content.ReadAsStringAsync();
                Assert.That((int)response.StatusCode, Is.EqualTo(200));
            }

            // 5 streams (13 in, 17 out) and 4 plain answers (11 in, 7 out). Usage is recorded just after each
            // answer ends, so the last one may land a moment after its client finished reading.
            var totals = await AdminUsageAsync(gateways[0], "channel", "main");
            for (var i = 0; i < 50 && totals["requests"]!.GetValue<long>() < 9; i++)
            {
                await Task.Delay(100);
                totals = await AdminUsageAsync(gateways[0], "channel", "main");
            }

            Assert.That(totals["requests"]!.GetValue<long>(), Is.EqualTo(9));
            Assert.That(totals["input_tokens"]!.GetValue<long>(), Is.EqualTo((5 * 13) + (4 * 11)));
            Assert.That(totals["output_tokens"]!.GetValue<long>(), Is.EqualTo((5 * 17) + (4 * 7)));
            var byModel = await AdminUsageAsync(gateways[1], "model", "claude-sonnet-4-6");
            Assert.That(byModel["requests"]!.GetValue<long>(), Is.EqualTo(9));
            var byGroup = await AdminUsageAsync(gateways[2], "group", "default");
            Assert.That(byGroup["output_tokens"]!.GetValue<long>(), Is.EqualTo(totals["output_tokens"]!.GetValue<long>()));

            // The CLI reads the same numbers from Redis.
            using var output = new StringWriter();
            using var error = new StringWriter();
            var code = await CcxProxy.Cli.CliApp.RunAsync(["usage", "--channel", "main", "--json", $"--Redis:Configuration={redis.ConnectionString}"],
                new CcxProxy.Cli.CliContext { Out = output, Error = error, WorkingDirectory = Path.GetTempPath() });
            Assert.That(code, Is.Zero, error.ToString());
            var cli = JsonNode.Parse(output.ToString())!;
            Assert.That(cli["requests"]!.GetValue<long>(), Is.EqualTo(9));
            Assert.That(cli["input_tokens"]!.GetValue<long>(), Is.EqualTo(totals["input_tokens"]!.GetValue<long>()));
        }
        finally
        {
            foreach (var gateway in gateways)
            {
                await gateway.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task AdminUsage_NeedsTheAdminKey()
    {
        await using var gateway = await TestGateway.StartAsync(settings: new Dictionary<string, string?> { ["Admin:AccessKey"] = AdminKey });

        using var request = new HttpRequestMessage(HttpMethod.Get, "/admin/usage?dimension=group&name=default");
        request.Headers.Add("x-api-key", TestGateway.AccessKey);
        using var response = await gateway.Client.SendAsync(request);

        Assert.That((int)response.StatusCode, Is.EqualTo(401), "a caller key is not the admin key");
    }

    private static async Task<JsonNode> AdminUsageAsync(TestGateway gateway, string dimension, string name)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/admin/usage?dimension={dimension}&name={name}");
        request.Headers.Add("x-api-key", AdminKey);
        using var response = await gateway.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(200), text);
        return JsonNode.Parse(text)!;
    }
}
