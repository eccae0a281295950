#pragma warning disable OPENAI001 // The SDK's Responses client is marked experimental.
using OpenAI.Responses;

namespace CcxProxy.Tests.Support;

/// <summary>What an OpenAI SDK Responses client read from one streamed answer.</summary>
/// <param name="Text">Every output_text delta, joined.</param>
/// <param name="Calls">The function calls, as their output_item.done events carried them.</param>
/// <param name="Completed">The response of response.completed; null when the stream did not complete.</param>
internal sealed record ResponsesStreamRead(string Text, IReadOnlyList<FunctionCallResponseItem> Calls, ResponseResult? Completed)
{
    /// <summary>Streams <paramref name="request"/> (marked streaming) through <paramref name="client"/> to its end.</summary>
    public static async Task<ResponsesStreamRead> ReadAsync(ResponsesClient client, CreateResponseOptions request)
    {
        request.StreamingEnabled = true;
        var text = "";
        var calls = new List<FunctionCallResponseItem>();
        ResponseResult? completed = null;
        await foreach (var update in await client.CreateResponseStreamingAsync(request))
        {
            switch (update)
            {
                case StreamingResponseOutputTextDeltaUpdate delta:
                    text += delta.Delta;
                    break;
                case StreamingResponseOutputItemDoneUpdate { Item: FunctionCallResponseItem done }:
                    calls.Add(done);
                    break;
                case StreamingResponseCompletedUpdate end:
                    completed = end.Response;
                    break;
            }
        }

        return new ResponsesStreamRead(text, calls, completed);
    }
}
