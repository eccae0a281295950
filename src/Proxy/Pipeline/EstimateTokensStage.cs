using System.Text;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 4: a <c>count_tokens</c> whose channel speaks OpenAI, which cannot count, is answered with the gateway's
/// documented estimate instead of being forwarded.
/// </summary>
internal sealed class EstimateTokensStage : IRequestStage
{
    public ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next) =>
        request.IsCountTokens && !TokenEstimate.UpstreamCounts(request.FirstChannel.Type)
            ? TokenEstimate.AnswerAsync(request)
            : next(request);
}

/// <summary>The gateway's own count of a Messages request's input tokens, for upstreams that cannot count.</summary>
internal static class TokenEstimate
{
    /// <summary>Whether an upstream of <paramref name="protocol"/> has a count endpoint (only Anthropic's does).</summary>
    public static bool UpstreamCounts(WireProtocol protocol) => protocol == WireProtocol.Anthropic;

    /// <summary>The estimate of a request's input tokens (read through <see cref="ForwardedRequest.InputTokenEstimate"/>, which keeps it).</summary>
    public static long Of(ForwardedRequest request) =>
        request.Api == InboundApi.Messages && ChatUpstream.TryEstimateInputTokens(request.Text.Span, out var tokens) ? tokens : Math.Max(1, request.Text.Length / 4);

    /// <summary>Answers <c>count_tokens</c> with the estimate, said in a header too (<c>x-ccx-token-count: estimate</c>).</summary>
    public static async ValueTask<GatewayError?> AnswerAsync(ForwardedRequest request)
    {
        if (!ChatUpstream.TryEstimateInputTokens(request.Text.Span, out var tokens))
        {
            return new GatewayError(StatusCodes.Status400BadRequest, "messages: must be an array of messages");
        }

        var response = request.Http.Response;
        var body = Encoding.UTF8.GetBytes($$"""{"input_tokens":{{tokens}}}""");
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        // Said in a header too, so a client that cares can tell an estimate from a count.
        response.Headers["x-ccx-token-count"] = "estimate";
        await response.Body.WriteAsync(body, request.Http.RequestAborted).ConfigureAwait(false);
        return null;
    }
}
