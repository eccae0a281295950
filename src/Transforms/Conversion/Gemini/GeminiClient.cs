using System.Text.Json;
using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Conversion.OpenAIChat;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Gemini clients (<c>POST /v1beta/models/{model}:generateContent</c> and <c>:streamGenerateContent</c>: the Gemini
/// CLI, Google's SDKs) served from Messages: the request one way (through the Chat Completions rules,
/// <see cref="GeminiRequest"/>), the answer, whole or streamed (<see cref="MessagesStreamToGemini"/>), and errors in
/// Google's shape the other.
/// </summary>
public static class GeminiClient
{
    /// <summary>This protocol's client codec, for <see cref="ConversionTable"/>.</summary>
    public static IClientCodec Codec { get; } = new GeminiClientCodec();

    /// <summary>Gemini request (client) → Anthropic Messages request (upstream).</summary>
    /// <param name="geminiRequest">The client's body.</param>
    /// <param name="stream">True when the client called <c>streamGenerateContent</c>.</param>
    /// <param name="options">The channel's decisions (upstream model, max_tokens limit).</param>
    public static GatewayResult<ConvertedRequest> ConvertRequest(ReadOnlySpan<byte> geminiRequest, bool stream, ConversionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return GeminiRequest.ToChat(geminiRequest, stream).Failed(out var error, out var chat)
            ? error
            : ChatClient.ConvertRequest(chat.Body, options, ChatFieldNames.Gemini);
    }

    /// <summary>Anthropic message (upstream, not streamed) → Gemini <c>GenerateContentResponse</c> (client).</summary>
    /// <param name="anthropicMessage">The upstream's 200 body.</param>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <exception cref="JsonException">The body is not an Anthropic message.</exception>
    public static byte[] ConvertResponse(ReadOnlySpan<byte> anthropicMessage, string clientModel)
    {
        var answer = AnthropicAnswer.Parse(anthropicMessage);
        var responseId = GeminiWire.ResponseId(answer.Id);
        return OpenAIWire.Write(json =>
        {
            json.WriteStartObject();
            json.WriteStartArray("candidates"u8);
            json.WriteStartObject();
            json.WriteStartObject("content"u8);
            json.WriteString("role"u8, "model"u8);
            json.WriteStartArray("parts"u8);
            if (answer.Reasoning is { Length: > 0 } reasoning)
            {
                MessagesStreamToGemini.TextPart(json, reasoning, thought: true);
            }

            if (answer.Text is { Length: > 0 } text)
            {
                MessagesStreamToGemini.TextPart(json, text, thought: false);
            }

            foreach (var (callId, name, arguments) in answer.ToolCalls)
            {
                MessagesStreamToGemini.FunctionCallPart(json, callId, name, arguments);
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteString("finishReason"u8, GeminiWire.FinishReason(answer.StopReason));
            json.WriteNumber("index"u8, 0);
            json.WriteEndObject();
            json.WriteEndArray();
            GeminiWire.WriteUsage(json, answer.Usage);
            json.WriteString("responseId"u8, responseId);
            json.WriteString("modelVersion"u8, clientModel);
            json.WriteEndObject();
        });
    }

    /// <summary>
    /// The request a <c>countTokens</c> body counts: its <c>generateContentRequest</c> when it wraps one, else the body
    /// itself (<c>contents</c>, optionally with tools and a system instruction).
    /// </summary>
    /// <param name="countTokensRequest">The client's countTokens body.</param>
    public static ReadOnlyMemory<byte> CountTokensRequest(ReadOnlyMemory<byte> countTokensRequest)
    {
        try
        {
            using var document = JsonDocument.Parse(countTokensRequest);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && GeminiWire.TryGet(document.RootElement, "generateContentRequest", out var inner) && inner.ValueKind == JsonValueKind.Object
                ? System.Text.Encoding.UTF8.GetBytes(inner.GetRawText())
                : countTokensRequest;
        }
        catch (JsonException)
        {
            return countTokensRequest;
        }
    }

    /// <summary>
    /// A <c>countTokens</c> body for <paramref name="upstreamModel"/>: a wrapped <c>generateContentRequest</c> names its
    /// model too (<c>models/…</c>), and Google wants it to be the one in the path; the body as sent when it wraps none
    /// or already names that model.
    /// </summary>
    /// <param name="countTokensRequest">The client's countTokens body.</param>
    /// <param name="upstreamModel">The channel's model.</param>
    public static ReadOnlyMemory<byte> CountTokensForModel(ReadOnlyMemory<byte> countTokensRequest, string upstreamModel)
    {
        ArgumentNullException.ThrowIfNull(upstreamModel);
        if (countTokensRequest.Span.IndexOf("generateContentRequest"u8) < 0 && countTokensRequest.Span.IndexOf("generate_content_request"u8) < 0)
        {
            return countTokensRequest;
        }

        try
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(countTokensRequest.Span);
            var inner = (node?["generateContentRequest"] ?? node?["generate_content_request"]) as System.Text.Json.Nodes.JsonObject;
            var named = "models/" + (upstreamModel.StartsWith("models/", StringComparison.Ordinal) ? upstreamModel["models/".Length..] : upstreamModel);
            if (inner is null || inner["model"]?.GetValueKind() is not JsonValueKind.String || inner["model"]!.GetValue<string>() == named)
            {
                return countTokensRequest;
            }

            inner["model"] = named;
            return System.Text.Encoding.UTF8.GetBytes(node!.ToJsonString(OpenAIWire.JsonOptions));
        }
        catch (JsonException)
        {
            return countTokensRequest;
        }
    }

    /// <summary>Anthropic SSE → a Gemini stream (<see cref="MessagesStreamToGemini"/>).</summary>
    /// <param name="clientModel">The model the client asked for.</param>
    /// <param name="jsonArray">True for a JSON-array stream (no <c>alt=sse</c>).</param>
    public static IStreamConverter CreateStreamConverter(string clientModel, bool jsonArray) => new MessagesStreamToGemini(clientModel, jsonArray);

    private sealed class GeminiClientCodec : IClientCodec
    {
        public WireProtocol Protocol => WireProtocol.Gemini;

        public GatewayResult<ConvertedRequest> ToMessages(ReadOnlySpan<byte> request, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertRequest(request, context.Stream, context.Options);
        }

        public byte[] AnswerFromMessages(ReadOnlySpan<byte> message, ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return ConvertResponse(message, context.ClientModel);
        }

        public IStreamConverter StreamFromMessages(ConversionContext context)
        {
            ArgumentNullException.ThrowIfNull(context);
            return CreateStreamConverter(context.ClientModel, context.JsonArrayStream);
        }

        public (int Status, byte[] Body) ErrorFromMessages(int status, ReadOnlySpan<byte> anthropicError, ConversionContext context) =>
            ErrorMapping.AnthropicToGoogle(status, anthropicError);
    }
}
