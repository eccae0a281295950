using CcxProxy.Transforms.Conversion.Hub;
using CcxProxy.Transforms.Forwarding;
using CcxProxy.Transforms.Json;
using CcxProxy.Transforms.Protocols;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Transforms.Conversion.OpenAIResponses;

/// <summary>
/// OpenAI Responses on a <c>responses</c> channel: the body forwarded as sent with the model mapped (the gateway has
/// already put a <c>previous_response_id</c>'s conversation into it), the answer relayed with the client's model name.
/// </summary>
public sealed class ResponsesPassthrough : IDirectRoute
{
    /// <summary>The path under a Responses base URL, which carries its version segment (https://api.openai.com/v1).</summary>
    public const string ResponsesPath = "/responses";

    /// <summary>The path of the input-token count under a Responses base URL.</summary>
    public const string InputTokensPath = "/responses/input_tokens";

    private ResponsesPassthrough()
    {
    }

    /// <summary>The one instance (the route holds no state).</summary>
    public static ResponsesPassthrough Instance { get; } = new();

    /// <inheritdoc/>
    public GatewayResult<ConversionRoute> Route(InboundApi api, ConversionRequest request, ConversionContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var body = Passthrough.ClampOutputTokens(RequestJson.Rewrite(request.Body, request.Scan, context.Options.UpstreamModel),
            context.Options.MaxTokensLimit, ("max_output_tokens", null));
        var clientModel = context.ClientModel;
        return new ConversionRoute(api == InboundApi.ResponsesInputTokens ? InputTokensPath : ResponsesPath, body, KeepQuery: true, new ResponsePlan
        {
            MapError = (status, error) => UpstreamErrors.OpenAIInShape(status, error, context.ChannelName),
            ConvertJson = json =>
            {
                var answer = RequestJson.ReplaceModelIfPresent(json, clientModel);
                context.OnAnswer?.Invoke(answer.ToArray());
                return answer;
            },
            CreateStreamConverter = () => new ResponsesPassthroughStream(clientModel, context.OnAnswer),
        });
    }
}
