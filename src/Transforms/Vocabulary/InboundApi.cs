namespace CcxProxy.Transforms.Vocabulary;

/// <summary>The client-facing APIs the gateway serves.</summary>
public enum InboundApi
{
    /// <summary><c>POST /v1/messages</c> (Anthropic).</summary>
    Messages,

    /// <summary><c>POST /v1/messages/count_tokens</c> (Anthropic).</summary>
    CountTokens,

    /// <summary><c>POST /v1/chat/completions</c> (OpenAI).</summary>
    ChatCompletions,

    /// <summary><c>POST /v1/completions</c> (OpenAI, legacy).</summary>
    Completions,

    /// <summary><c>POST /v1/responses</c> (OpenAI Responses; its errors are OpenAI's).</summary>
    Responses,

    /// <summary><c>POST /v1/responses/input_tokens</c> (OpenAI Responses: the input tokens a request would use).</summary>
    ResponsesInputTokens,

    /// <summary><c>POST /v1beta/models/{model}:generateContent</c> (Gemini).</summary>
    GenerateContent,

    /// <summary><c>POST /v1beta/models/{model}:streamGenerateContent</c> (Gemini; SSE with <c>alt=sse</c>, else a streamed JSON array).</summary>
    StreamGenerateContent,

    /// <summary><c>POST /v1beta/models/{model}:countTokens</c> (Gemini).</summary>
    GeminiCountTokens,
}

/// <summary>What follows from the API a client called.</summary>
public static class InboundApis
{
    /// <summary>The protocol the client reads: the shape of its answers and errors.</summary>
    /// <param name="api">The API the client called.</param>
    public static WireProtocol Protocol(this InboundApi api) => api switch
    {
        InboundApi.Messages or InboundApi.CountTokens => WireProtocol.Anthropic,
        InboundApi.ChatCompletions or InboundApi.Completions or InboundApi.Responses or InboundApi.ResponsesInputTokens => WireProtocol.OpenAI,
        InboundApi.GenerateContent or InboundApi.StreamGenerateContent or InboundApi.GeminiCountTokens => WireProtocol.Gemini,
        _ => throw new ArgumentOutOfRangeException(nameof(api), api, null),
    };
}
