using System.Text.Json;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.UpstreamSide;

/// <summary>Builders of OpenAI chat.completion.chunk JSON, shaped like the real providers' chunks.</summary>
public static class Chunks
{
    public static string Q(string s) => JsonSerializer.Serialize(s);

    public static string Chunk(string delta, string? finish = null, string extraChoice = "") =>
        """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":""" + delta
        + ""","logprobs":null,"finish_reason":""" + (finish is null ? "null" : Q(finish)) + extraChoice + "}]}";

    public static string Role() => Chunk("""{"role":"assistant","content":""}""");

    public static string Text(string text) => Chunk($$$"""{"content":{{{Q(text)}}}}""");

    public static string Reasoning(string text) => Chunk($$$"""{"reasoning_content":{{{Q(text)}}}}""");

    public static string Finish(string reason) => Chunk("{}", reason);

    /// <summary>A tool-call start: index, id, name and (maybe) a first arguments fragment.</summary>
    public static string ToolStart(int index, string id, string name, string arguments = "") =>
        Chunk($$$"""{"tool_calls":[{"index":{{{index}}},"id":{{{Q(id)}}},"type":"function","function":{"name":{{{Q(name)}}},"arguments":{{{Q(arguments)}}}}}]}""");

    public static string ToolArgs(int index, string arguments) =>
        Chunk($$$"""{"tool_calls":[{"index":{{{index}}},"function":{"arguments":{{{Q(arguments)}}}}}]}""");

    public static string Usage(long prompt, long completion, long cached = 0) =>
        $$$"""{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":{{{prompt}}},"completion_tokens":{{{completion}}},"total_tokens":{{{prompt + completion}}},"prompt_tokens_details":{"cached_tokens":{{{cached}}}""" + "}}}";

    public const string Done = "[DONE]";
}
