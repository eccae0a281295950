using System.Text.Json;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// OpenAI Responses clients (<c>POST /v1/responses</c>: the Codex CLI, the OpenAI SDKs' Responses clients) served
/// from Messages: the request one way (through the Chat Completions rules, <see cref="ResponsesRequest"/>), the
/// answer, whole or streamed, the other. Conversions only: the host keeps answers and resolves
/// <c>previous_response_id</c> before they run (src/Proxy/Pipeline/ResponsesHistoryStage.cs).
/// </summary>
public static class ResponsesClient
{
    /// <summary>This protocol's client codec, for <see cref="ConversionTable"/>.</summary>
    public static IClientCodec Codec { get; } = new OpenAIClientCodec(ConvertRequest, AnswerFromMessages,
        context => new MessagesStreamToResponses(context.ClientModel, OpenAIWire.UnixNow(context.Time), null, context.OnAnswer));

    /// <summary>Responses request (client) → Anthropic Messages request (upstream).</summary>
    /// <param name="responsesRequest">The client's body.</param>
    /// <param name="options">The channel's decisions (upstream model, max_tokens limit).</param>
    /// <returns>The Messages request, or the error that says why it cannot be made (a 400; a 404 for a <c>previous_response_id</c>).</returns>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> responsesRequest, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return ResponsesRequest.ToChat(responsesRequest).Failed(out var error, out var chat)
            ? error
            : ChatClient.ConvertRequest(chat.Body, options, ChatFieldNames.Responses);
    }

    /// <summary>Anthropic message (upstream, not streamed) → Responses <c>response</c> object (client).</summary>
    /// <param name="anthropicMessage">The upstream's 200 body.</param>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="time">The host's clock, for <c>created_at</c>.</param>
    /// <exception cref="JsonException">The body is not an Anthropic message.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return ConvertResponse(anthropicMessage, clientModel, OpenAIWire.UnixNow(time));
    }

    /// <summary>Anthropic SSE → Responses SSE (<see cref="MessagesStreamToResponses"/>).</summary>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="time">The host's clock, for <c>created_at</c>.</param>
    public static IStreamConverter CreateStreamConverter(string clientModel, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return new MessagesStreamToResponses(clientModel, OpenAIWire.UnixNow(time), null);
    }

    // The whole answer, handed to the context's OnAnswer too (the gateway keeps it when the client asked it to).
    private static byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context)
    {
        var answer = ConvertResponse(message, context.ClientModel, OpenAIWire.UnixNow(context.Time), context.OnAnswer is not null);
        context.OnAnswer?.Invoke(answer);
        return answer;
    }

    /// <summary>The same, with <c>created_at</c> fixed (tests).</summary>
    internal static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel, long createdAt, bool stored = false, string? responseId = null)
    {
        var answer = AnthropicAnswer.Parse(anthropicMessage);
        var id = responseId ?? ResponsesWire.NewResponseId();
        var (status, incompleteReason) = ResponsesWire.Status(answer.StopReason);
        return OpenAIWire.Write(json => ResponsesWire.WriteResponse(json, id, createdAt, clientModel, status, incompleteReason, stored, output =>
        {
            var index = 0;
            if (answer.Reasoning is not null)
            {
                ResponsesWire.WriteReasoningItem(output, ResponsesWire.ItemId("rs_", id, index++), answer.Reasoning);
            }

            if (answer.Text is not null)
            {
                ResponsesWire.WriteMessageItem(output, ResponsesWire.ItemId("msg_", id, index++), "completed", answer.Text);
            }

            foreach (var (callId, name, arguments) in answer.ToolCalls)
            {
                ResponsesWire.WriteFunctionCallItem(output, ResponsesWire.ItemId("fc_", id, index++), "completed", callId, name, arguments);
            }
        }, answer.Usage));
    }
}
