using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>The rest of the pipeline, from a stage's point of view.</summary>
/// <returns>Null when the request was answered; otherwise the error to answer it with.</returns>
internal delegate ValueTask<GatewayError?> RequestStep(ForwardedRequest request);

/// <summary>
/// One stage of a forwarded request, with one job, in the manner of an ASP.NET Core (and YARP) middleware: it does
/// its part and calls <c>next</c> for the rest, or answers (returns null) or refuses (returns the
/// <see cref="GatewayError"/>) without calling it. A stage writes no error itself: the endpoint renders the one
/// that comes back.
/// </summary>
internal interface IRequestStage
{
    /// <summary>Runs the stage.</summary>
    ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next);
}

/// <summary>
/// A stage whose whole part comes before the rest of the request (authenticate, read the body, plan the route): it
/// does its part and says whether the request goes on. Steps run one after the other instead of each inside the one
/// before, so none of them stays suspended for as long as the answer streams.
/// </summary>
internal interface IRequestStep
{
    /// <summary>Runs the step; null to go on, else the error to answer with.</summary>
    ValueTask<GatewayError?> RunAsync(ForwardedRequest request);
}

/// <summary>The steps of a forwarded request, run in turn, then its stages, chained once in their order.</summary>
internal sealed class RequestPipeline
{
    private readonly IRequestStep[] _steps;
    private readonly RequestStep _stages;

    public RequestPipeline(IEnumerable<IRequestStep> steps, IEnumerable<IRequestStage> stages)
    {
        _steps = [.. steps];
        RequestStep step = static _ => ValueTask.FromResult<GatewayError?>(null);
        foreach (var stage in stages.Reverse())
        {
            var next = step;
            step = request => stage.InvokeAsync(request, next);
        }

        _stages = step;
    }

    /// <summary>Runs the request through every step and stage; null when it was answered, else the error to answer with.</summary>
    public async ValueTask<GatewayError?> RunAsync(ForwardedRequest request)
    {
        foreach (var step in _steps)
        {
            if (await step.RunAsync(request).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }
        }

        return await _stages(request).ConfigureAwait(false);
    }
}
