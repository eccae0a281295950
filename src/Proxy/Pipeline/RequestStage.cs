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

/// <summary>The stages of a forwarded request, chained once in their order.</summary>
internal sealed class RequestPipeline
{
    private readonly RequestStep _first;

    public RequestPipeline(IEnumerable<IRequestStage> stages)
    {
        RequestStep step = static _ => ValueTask.FromResult<GatewayError?>(null);
        foreach (var stage in stages.Reverse())
        {
            var next = step;
            step = request => stage.InvokeAsync(request, next);
        }

        _first = step;
    }

    /// <summary>Runs the request through every stage; null when it was answered, else the error to answer with.</summary>
    public ValueTask<GatewayError?> RunAsync(ForwardedRequest request) => _first(request);
}
