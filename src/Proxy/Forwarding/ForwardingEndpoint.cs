using CcxProxy.Errors;
using CcxProxy.Pipeline;
using CcxProxy.Telemetry;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Forwarding;

/// <summary>
/// The forwarded APIs (<c>/v1/messages</c>, <c>/v1/messages/count_tokens</c>, <c>/v1/chat/completions</c>,
/// <c>/v1/completions</c>): each request runs through the <see cref="RequestPipeline"/> (authenticate, read the body,
/// plan the route, admit, fail over over single attempts, account), and the error it may come back with is
/// written here, in the caller's protocol.
/// </summary>
internal sealed class ForwardingEndpoint(RequestPipeline pipeline, RequestTelemetry telemetry, TimeProvider time)
{
    /// <summary>Handles <c>POST /v1/messages</c>.</summary>
    public Task HandleMessagesAsync(HttpContext context) => HandleAsync(context, InboundApi.Messages, "messages");

    /// <summary>Handles <c>POST /v1/messages/count_tokens</c>.</summary>
    public Task HandleCountTokensAsync(HttpContext context) => HandleAsync(context, InboundApi.CountTokens, "count_tokens");

    /// <summary>Handles <c>POST /v1/chat/completions</c>.</summary>
    public Task HandleChatCompletionsAsync(HttpContext context) => HandleAsync(context, InboundApi.ChatCompletions, "chat.completions");

    /// <summary>Handles <c>POST /v1/completions</c>.</summary>
    public Task HandleCompletionsAsync(HttpContext context) => HandleAsync(context, InboundApi.Completions, "completions");

    /// <summary>Handles <c>POST /v1/responses</c>.</summary>
    public Task HandleResponsesAsync(HttpContext context) => HandleAsync(context, InboundApi.Responses, "responses");

    /// <summary>Handles <c>POST /v1/responses/input_tokens</c>.</summary>
    public Task HandleResponsesInputTokensAsync(HttpContext context) => HandleAsync(context, InboundApi.ResponsesInputTokens, "responses.input_tokens");

    /// <summary>Handles Gemini's <c>POST /v1beta/models/{model}:generateContent</c>, <c>:streamGenerateContent</c> and <c>:countTokens</c>.</summary>
    public Task HandleGeminiAsync(HttpContext context, InboundApi api, GeminiTarget target) => HandleAsync(context, api, api switch
    {
        InboundApi.StreamGenerateContent => "gemini.streamGenerateContent",
        InboundApi.GeminiCountTokens => "gemini.countTokens",
        _ => "gemini.generateContent",
    }, target);

    private async Task HandleAsync(HttpContext context, InboundApi api, string name, GeminiTarget? gemini = null)
    {
        var record = RequestRecord.Start(context, time);
        record.Api = name;
        try
        {
            if (await pipeline.RunAsync(new ForwardedRequest(context, api, record) { Gemini = gemini }).ConfigureAwait(false) is { } error)
            {
                await GatewayErrors.WriteAsync(context, error).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException && context.RequestAborted.IsCancellationRequested)
        {
            // The client left while it was being answered: nobody is left to tell.
        }
        finally
        {
            telemetry.End(context, record);
        }
    }
}
