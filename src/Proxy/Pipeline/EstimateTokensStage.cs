using System.Text;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Conversion.Gemini;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Conversion.OpenAIResponses;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Pipeline;

/// <summary>
/// Stage 4: a token count whose channel cannot count (Anthropic's <c>count_tokens</c> anywhere but an Anthropic
/// channel, Responses' <c>input_tokens</c> anywhere but a Responses one, Gemini's <c>countTokens</c> anywhere but a
/// Gemini one) is answered with the gateway's documented estimate instead of being forwarded.
/// </summary>
internal sealed class EstimateTokensStage : IRequestStage
{
    public ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next) =>
        request.IsCountTokens && !TokenEstimate.UpstreamCounts(request.Api, request.FirstChannel.Type)
            ? TokenEstimate.AnswerAsync(request)
            : next(request);
}

/// <summary>The gateway's own count of a request's input tokens, for upstreams that cannot count.</summary>
internal static class TokenEstimate
{
    /// <summary>Whether a channel of <paramref name="protocol"/> counts tokens for a count request of <paramref name="api"/>.</summary>
    public static bool UpstreamCounts(InboundApi api, WireProtocol protocol) => api switch
    {
        InboundApi.CountTokens => protocol == WireProtocol.Anthropic,
        InboundApi.ResponsesInputTokens => protocol == WireProtocol.Responses,
        InboundApi.GeminiCountTokens => protocol == WireProtocol.Gemini,
        _ => false,
    };

    /// <summary>The estimate of a request's input tokens (read through <see cref="ForwardedRequest.InputTokenEstimate"/>, which keeps it).</summary>
    public static long Of(ForwardedRequest request) =>
        TryEstimate(request, out var tokens) ? tokens : Math.Max(1, request.Text.Length / 4);

    /// <summary>Answers a count request with the estimate, in the caller's shape, said in a header too (<c>x-ccx-token-count: estimate</c>).</summary>
    public static async ValueTask<GatewayError?> AnswerAsync(ForwardedRequest request)
    {
        long tokens;
        if (request.Api is InboundApi.GeminiCountTokens or InboundApi.ResponsesInputTokens)
        {
            // The provider counts what the gateway cannot convert too (audio, uploads): that falls back to the body's length.
            tokens = Of(request);
        }
        else if (!TryEstimate(request, out tokens))
        {
            return new GatewayError(StatusCodes.Status400BadRequest, "messages: must be an array of messages");
        }

        var response = request.Http.Response;
        var body = Encoding.UTF8.GetBytes(request.Api switch
        {
            InboundApi.GeminiCountTokens => $$"""{"totalTokens":{{tokens}}}""",
            InboundApi.ResponsesInputTokens => $$"""{"object":"response.input_tokens","input_tokens":{{tokens}}}""",
            _ => $$"""{"input_tokens":{{tokens}}}""",
        });
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        // Said in a header too, so a client that cares can tell an estimate from a count.
        response.Headers["x-ccx-token-count"] = "estimate";
        await response.Body.WriteAsync(body, request.Http.RequestAborted).ConfigureAwait(false);
        return null;
    }

    // Messages bodies are estimated as they are; a Gemini countTokens as the Messages request it converts to (it may wrap
    // the request in generateContentRequest). Other APIs, Gemini's generate calls among them, fall back to the body's
    // length: converting them here would be a second conversion of every request.
    private static bool TryEstimate(ForwardedRequest request, out long tokens)
    {
        tokens = 0;
        switch (request.Api)
        {
            case InboundApi.Messages or InboundApi.CountTokens:
                return ChatUpstream.TryEstimateInputTokens(request.Text.Span, out tokens);
            case InboundApi.ResponsesInputTokens:
                return !ResponsesClient.ConvertRequest(request.Text.Span, new ConversionOptions { UpstreamModel = request.Model }).Failed(out _, out var converted)
                    && ChatUpstream.TryEstimateInputTokens(converted.Body, out tokens);
            case InboundApi.GeminiCountTokens:
                var body = GeminiClient.CountTokensRequest(request.Text);
                var options = new ConversionOptions { UpstreamModel = request.Model };
                return !GeminiClient.ConvertRequest(body.Span, stream: false, options).Failed(out _, out var messages)
                    && ChatUpstream.TryEstimateInputTokens(messages.Body, out tokens);
            default:
                return false;
        }
    }
}
