using System.Buffers;
using System.Text;
using System.Text.Json.Nodes;
using CcxProxy.Transforms.Conversion;
using CcxProxy.Transforms.Sse;
using CcxProxy.Transforms.Tests.Sse;

namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

/// <summary>Feeds upstream SSE bytes through <see cref="SseReader"/> into a converter, as the gateway does.</summary>
internal static class StreamHarness
{
    public const long Created = 1_700_000_000;

    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>Anthropic-style frames: <c>event: type</c> + <c>data: json</c>.</summary>
    public static byte[] Anthropic(params string[] jsonEvents)
    {
        var text = new StringBuilder();
        foreach (var json in jsonEvents)
        {
            var type = JsonNode.Parse(json)!["type"]!.GetValue<string>();
            text.Append("event: ").Append(type).Append('\n').Append("data: ").Append(json).Append("\n\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>OpenAI-style data-only frames.</summary>
    public static byte[] DataOnly(params string[] data)
    {
        var text = new StringBuilder();
        foreach (var d in data)
        {
            text.Append("data: ").Append(d).Append("\n\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>Runs the whole upstream stream through the converter: Begin, every event, End at EOF.</summary>
    public static async Task<byte[]> RunAsync(IStreamConverter converter, Stream upstream)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var output = new ArrayBufferWriter<byte>();
        converter.Begin(output);
        await using (var reader = new SseReader(upstream))
        {
            while (!converter.Finished && await reader.ReadAsync(cts.Token) is { } item)
            {
                converter.Convert(item, output);
            }
        }

        converter.End(output);
        return output.WrittenSpan.ToArray();
    }

    public static Task<byte[]> RunAsync(IStreamConverter converter, byte[] upstream, bool trickle) =>
        RunAsync(converter, trickle ? new TrickleStream(upstream) : new WholeStream(upstream));

    /// <summary>The client's view: every frame the converter wrote, read back with <see cref="SseReader"/>.</summary>
    public static async Task<List<SseEvent>> ParseAsync(byte[] output)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var frames = new List<SseEvent>();
        await using var reader = new SseReader(new WholeStream(output));
        while (await reader.ReadAsync(cts.Token) is { } item)
        {
            // The event borrows the reader's buffer until the next read: keep a copy.
            frames.Add(item.Detach());
        }

        return frames;
    }

    /// <summary>The data of each frame (comments as ": text").</summary>
    public static async Task<List<string>> DataAsync(byte[] output) =>
        (await ParseAsync(output)).Select(f => f.IsComment ? ": " + f.Data : f.Data).ToList();

    /// <summary>
    /// Reassembles OpenAI chat chunks into the chat.completion a non-streaming call would give (content,
    /// reasoning_content, tool_calls by index, finish_reason, usage), the way the OpenAI SDKs' accumulators do.
    /// </summary>
    public static JsonObject Reassemble(IEnumerable<string> data)
    {
        string? content = null;
        string? reasoning = null;
        var tools = new SortedDictionary<int, (string Id, string Name, StringBuilder Args)>();
        string? finish = null;
        JsonNode? usage = null;
        string? id = null;
        foreach (var d in data)
        {
            if (d == "[DONE]" || d.StartsWith(": ", StringComparison.Ordinal))
            {
                continue;
            }

            var chunk = JsonNode.Parse(d)!.AsObject();
            id ??= chunk["id"]!.GetValue<string>();
            if (chunk["usage"] is { } u)
            {
                usage = u.DeepClone();
            }

            foreach (var choice in chunk["choices"]!.AsArray())
            {
                var delta = choice!["delta"]!;
                if (delta["content"] is { } c)
                {
                    content = (content ?? string.Empty) + c.GetValue<string>();
                }

                if (delta["reasoning_content"] is { } r)
                {
                    reasoning = (reasoning ?? string.Empty) + r.GetValue<string>();
                }

                foreach (var call in delta["tool_calls"]?.AsArray() ?? [])
                {
                    var index = call!["index"]!.GetValue<int>();
                    if (!tools.TryGetValue(index, out var tool))
                    {
                        tool = (call["id"]!.GetValue<string>(), call["function"]!["name"]!.GetValue<string>(), new StringBuilder());
                        tools[index] = tool;
                    }

                    tool.Args.Append(call["function"]!["arguments"]!.GetValue<string>());
                }

                if (choice["finish_reason"] is { } f)
                {
                    finish = f.GetValue<string>();
                }
            }
        }

        var message = new JsonObject { ["role"] = "assistant", ["content"] = content == "" ? null : content };
        if (reasoning is not null)
        {
            message["reasoning_content"] = reasoning;
        }

        if (tools.Count > 0)
        {
            var calls = new JsonArray();
            foreach (var (_, tool) in tools)
            {
                calls.Add(new JsonObject
                {
                    ["id"] = tool.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = tool.Name, ["arguments"] = tool.Args.ToString() },
                });
            }

            message["tool_calls"] = calls;
        }

        return new JsonObject
        {
            ["id"] = id,
            ["message"] = message,
            ["finish_reason"] = finish,
            ["usage"] = usage,
        };
    }
}
