using System.Text.Json.Nodes;

namespace CcxProxy.Responses;

/// <summary>An OpenAI Responses request the gateway keeps the answer of: its whole input, and the answer once complete.</summary>
/// <param name="input">Every input item the answer responds to, the history of a <c>previous_response_id</c> first.</param>
internal sealed class ResponsesTurn(JsonArray input)
{
    public JsonArray Input { get; } = input;

    /// <summary>The <c>response</c> object the client got, once the answer completed; null before (or when it failed).</summary>
    public byte[]? Answer { get; set; }
}
