using System.Text.Json.Nodes;
using CcxProxy.Responses;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Pipeline;

/// <summary>
/// OpenAI Responses conversation state, on the way out: a turn marked to be kept (<see cref="ResponsesHistoryStage"/>)
/// whose answer completed is stored under the caller's key, before the response ends, so the client's next request
/// can name it as its <c>previous_response_id</c> on any replica. A failure to store is logged; the answer stands.
/// </summary>
internal sealed partial class ResponsesStoreStage(ResponseStore store, ILogger<ResponsesStoreStage> logger) : IRequestStage
{
    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        var error = await next(request).ConfigureAwait(false);
        if (error is null && request.Responses is { Answer: { } answer } turn && JsonNode.Parse(answer) is JsonObject response)
        {
            try
            {
                await store.SaveAsync(request.Caller.KeyId, new StoredResponse(response, turn.Input), request.Http.RequestAborted).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // Redis down or the client gone: the answer was given, only its keeping failed.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Log.NotKept(logger, ex.GetType().Name);
            }
        }

        return error;
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "An OpenAI Responses answer could not be kept ({ExceptionType}); a later previous_response_id naming it gets 404")]
        public static partial void NotKept(ILogger logger, string exceptionType);
    }
}
