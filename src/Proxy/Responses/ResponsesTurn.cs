using System.Text.Json.Nodes;

namespace CcxProxy.Responses;

/// <summary>
/// An OpenAI Responses request whose answer the gateway keeps: its whole input, the answer once complete (handed over
/// by the client-side converter, scrubbed of the attempt's secrets), and how to keep it.
/// </summary>
/// <param name="input">Every input item the answer responds to, the history of a <c>previous_response_id</c> first.</param>
/// <param name="keep">Keeps an answer with <paramref name="input"/>; handles its own failures.</param>
internal sealed class ResponsesTurn(JsonArray input, Func<JsonObject, JsonArray, Task> keep)
{
    public JsonArray Input { get; } = input;

    /// <summary>The <c>response</c> object the client gets, once the answer completed; null before (or when it failed).</summary>
    public byte[]? Answer { get; set; }

    /// <summary>Keeps the answer, if there is a complete one: awaited before the client gets its last bytes.</summary>
    public Task KeepAsync() =>
        Answer is { } answer && JsonNode.Parse(answer) is JsonObject response ? keep(response, Input) : Task.CompletedTask;
}
