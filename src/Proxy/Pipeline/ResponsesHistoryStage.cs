using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CcxProxy.Responses;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Pipeline;

/// <summary>
/// OpenAI Responses conversation state, on the way in: a <c>previous_response_id</c> is looked up under the caller's
/// key and its input and output are put before the new input, so every channel type sees the whole conversation
/// (404 <c>previous_response_not_found</c> when there is none for this key). Unless the request says <c>store: false</c>
/// (as Codex does), the turn is marked to be kept (<see cref="ResponsesStoreStage"/>). Other APIs pass straight on.
/// </summary>
internal sealed class ResponsesHistoryStage(ResponseStore store) : IRequestStage
{
    private static readonly JsonSerializerOptions s_json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async ValueTask<GatewayError?> InvokeAsync(ForwardedRequest request, RequestStep next)
    {
        if (request.Api != InboundApi.Responses || JsonNode.Parse(request.Text.Span) is not JsonObject body)
        {
            return await next(request).ConfigureAwait(false);
        }

        var input = InputItems(body["input"]);
        if (body["previous_response_id"] is { } previous)
        {
            if (previous.GetValueKind() != JsonValueKind.String || input is null)
            {
                return new GatewayError(StatusCodes.Status400BadRequest, "previous_response_id: must be a string, with an input to add to that response");
            }

            var id = previous.GetValue<string>();
            var prior = await store.GetAsync(request.Caller.KeyId, id, request.Http.RequestAborted).ConfigureAwait(false);
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

            input = whole;
            body["input"] = whole.DeepClone();
            body.Remove("previous_response_id");
            var rewritten = JsonSerializer.SerializeToUtf8Bytes(body, s_json);
            request.Body = rewritten;
            request.Text = rewritten;
            request.Scan = RequestJson.Scan(rewritten).Failed(out var error, out var scan) ? throw new InvalidOperationException(error.Message) : scan;
        }

        var keep = body["store"] is not JsonValue flag || flag.GetValueKind() != JsonValueKind.False;
        request.Responses = keep && input is not null ? new ResponsesTurn(input) : null;
        return await next(request).ConfigureAwait(false);
    }

    // A string input is one user message; an array is its items; anything else is the converter's to refuse.
    private static JsonArray? InputItems(JsonNode? input) => input switch
    {
        JsonArray items => (JsonArray)items.DeepClone(),
        JsonValue text when text.GetValueKind() == JsonValueKind.String => new JsonArray(new JsonObject
        {
            ["type"] = "message",
            ["role"] = "user",
            ["content"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = text.GetValue<string>() }),
        }),
        _ => null,
    };
}
