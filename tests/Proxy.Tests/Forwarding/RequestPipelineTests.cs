using CcxProxy.Pipeline;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.AspNetCore.Http;

namespace CcxProxy.Tests.Forwarding;

/// <summary>
/// The steps and stages of a forwarded request: run in their order, each deciding whether the rest runs; an error comes back
/// through the stages before it as a value; a part of the request read before its stage ran is a loud bug.
/// </summary>
[TestFixture]
public sealed class RequestPipelineTests
{
    private static ForwardedRequest Request()
    {
        var context = new DefaultHttpContext();
        return new ForwardedRequest(context, InboundApi.Messages, RequestRecord.Start(context, TimeProvider.System));
    }

    private sealed class Stage(string name, List<string> log, GatewayError? refuse = null) : IRequestStage
    {
        public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
        {
            log.Add(name);
            if (refuse is not null)
            {
                return refuse;
            }

            var error = await next(request);
            log.Add(name + " saw " + (error?.Status.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "an answer"));
            return error;
        }
    }

    private sealed class Step(string name, List<string> log, GatewayError? refuse = null) : IRequestStep
    {
        public async ValueTask<GatewayError?> RunAsync(ForwardedRequest request)
        {
            await Task.Yield();
            log.Add(name);
            return refuse;
        }
    }

    [Test]
    public async Task Steps_RunInTurn_BeforeTheStages()
    {
        var log = new List<string>();
        var pipeline = new RequestPipeline([new Step("1", log), new Step("2", log)], [new Stage("a", log), new Stage("b", log)]);

        var error = await pipeline.RunAsync(Request());

        Assert.That(error, Is.Null);
        Assert.That(log, Is.EqualTo(new[] { "1", "2", "a", "b", "b saw an answer", "a saw an answer" }));
    }

    [Test]
    public async Task StepRefusal_StopsEverythingAfter()
    {
        var log = new List<string>();
        var refusal = new GatewayError(401, "bad key");
        var pipeline = new RequestPipeline([new Step("1", log, refusal), new Step("2", log)], [new Stage("a", log)]);

        var error = await pipeline.RunAsync(Request());

        Assert.That(error, Is.SameAs(refusal));
        Assert.That(log, Is.EqualTo(new[] { "1" }));
    }

    [Test]
    public async Task Stages_RunInOrder_AndWrapWhatFollows()
    {
        var log = new List<string>();
        var pipeline = new RequestPipeline([], [new Stage("a", log), new Stage("b", log), new Stage("c", log)]);

        var error = await pipeline.RunAsync(Request());

        Assert.That(error, Is.Null);
        Assert.That(log, Is.EqualTo(new[] { "a", "b", "c", "c saw an answer", "b saw an answer", "a saw an answer" }));
    }

    [Test]
    public async Task Refusal_StopsTheStagesAfter_AndComesBackThroughThoseBefore()
    {
        var log = new List<string>();
        var refusal = new GatewayError(429, "limit");
        var pipeline = new RequestPipeline([], [new Stage("a", log), new Stage("b", log, refusal), new Stage("c", log)]);

        var error = await pipeline.RunAsync(Request());

        Assert.That(error, Is.SameAs(refusal));
        Assert.That(log, Is.EqualTo(new[] { "a", "b", "a saw 429" }));
    }

    [Test]
    public void Request_PartReadBeforeItsStage_Throws()
    {
        var request = Request();

        Assert.That(() => request.Caller, Throws.InvalidOperationException.With.Message.Contains("Caller"));
        Assert.That(() => request.Route, Throws.InvalidOperationException.With.Message.Contains("Route"));
        Assert.That(() => request.Model, Throws.InvalidOperationException.With.Message.Contains("Model"));
    }
}
