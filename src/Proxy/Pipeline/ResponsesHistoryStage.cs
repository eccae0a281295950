using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Hosting;
using CcxProxy.Responses;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;
using Microsoft.Extensions.Options;

namespace CcxProxy.Pipeline;

/// <summary>
/// OpenAI Responses conversation state. A <c>previous_response_id</c> is looked up under the caller's key and its
/// input and output are put before the new input, so every channel type sees the whole conversation (404
/// <c>previous_response_not_found</c> when there is none for this key; 413 when the whole no longer fits the body
/// limit). Unless the request says <c>store: false</c> (as Codex does), the turn is marked to be kept: the relay
/// awaits its keeping before the client gets the answer's last bytes (<see cref="ResponsesTurn.KeepAsync"/>). Other
/// APIs pass straight on.
/// </summary>
internal sealed class ResponsesHistoryStage(ResponseStore store, IOptions<GatewayOptions> options) : IRequestStep
{
    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonNodeOptions s_nodes = new() { PropertyNameCaseInsensitive = false };
    private static readonly JsonDocumentOptions s_strict = new() { AllowDuplicateProperties = false };

    private readonly long _maxBody = options.Value.MaxRequestBodyBytes;

    public async ValueTask<GatewayError?> RunAsync(ForwardedRequest request)
    {
        // The body's one scan has already said whether this is a turn to keep or to continue.
        // An input-token count is never kept, but counts a previous_response_id's conversation as the turn would.
        var keep = request.Api == InboundApi.Responses && !request.Scan.StoreFalse;
        if (request.Api is not (InboundApi.Responses or InboundApi.ResponsesInputTokens) || (!keep && !request.Scan.ContinuesResponse))
        {
            return null;
        }

        try
        {
            var body = JsonNode.Parse(request.Text.Span, s_nodes, s_strict)!.AsObject();
            var input = InputItems(body["input"]);
            if (request.Scan.ContinuesResponse)
            {
                if (body["previous_response_id"] is not JsonValue previous || previous.GetValueKind() != JsonValueKind.String || input is null)
                {
                    return new GatewayError(StatusCodes.Status400BadRequest, "previous_response_id: must be a string, with an input to add to that response");
                }

                if ((await ContinueAsync(request, body, previous.GetValue<string>(), input).ConfigureAwait(false)).Failed(out var refused, out var whole))
                {
                    return refused;
                }

                input = whole;
            }

            var scope = ResponseStore.ScopeOf(request.Caller);
            request.Responses = keep && input is not null
                ? new ResponsesTurn(input, (response, items) => store.KeepAsync(scope, new StoredResponse(response, items)))
                : null;
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException)
        {
            // Malformed JSON is the scan's to refuse; what is left is an object that names a property twice, or an
            // input item of the wrong kind.
            return new GatewayError(StatusCodes.Status400BadRequest, "the request holds an object that names a field twice, or an input item that is not an object");
        }

        return null;
    }

    // The kept conversation put before the new input, the body rewritten with it (and rescanned); or the refusal.
    private async Task<GatewayResult<JsonArray>> ContinueAsync(ForwardedRequest request, JsonObject body, string id, JsonArray input)
    {
        StoredResponse? prior;
        try
        {
            prior = await store.GetAsync(ResponseStore.ScopeOf(request.Caller), id, request.Http.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !request.Http.RequestAborted.IsCancellationRequested)
        {
            return new GatewayError(StatusCodes.Status503ServiceUnavailable, "the store of kept responses cannot be reached; try again shortly");
        }

        if (prior is null)
        {
            return new GatewayError(StatusCodes.Status404NotFound, $"Previous response with id '{id}' not found.") { Code = "previous_response_not_found" };
        }

        // The stored input, then what the model answered (output items are valid input items), then the new input.
        var whole = new JsonArray();
        foreach (var item in prior.Input.Concat(prior.Response["output"] as JsonArray ?? []).Concat(input))
        {
            whole.Add(item?.DeepClone());
        }

        body["input"] = whole;
        body.Remove("previous_response_id");
        var rewritten = JsonSerializer.SerializeToUtf8Bytes(body, s_json);
        if (rewritten.Length > _maxBody)
        {
            return new GatewayError(StatusCodes.Status413PayloadTooLarge,
                $"the conversation of previous_response_id '{id}' and the new input are larger than the gateway's limit of {_maxBody} bytes");
        }

        // The gateway's own serialisation of a body that scanned: it scans; the error is there for completeness.
        if (RequestJson.Scan(rewritten).Failed(out var error, out var scan))
        {
            return error;
        }

        request.Body = rewritten;
        request.Text = rewritten;
        request.Scan = scan;
        return whole;
    }

    // A string input is one user message; an array is its items; anything else is the converter's to refuse.
    private static JsonArray? InputItems(JsonNode? input) => input switch
    {
        JsonArray items => items,
        JsonValue text when text.GetValueKind() == JsonValueKind.String => new JsonArray(new JsonObject
        {
            ["type"] = "message",
            ["role"] = "user",
            ["content"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = text.GetValue<string>() }),
        }),
        _ => null,
    };
}
