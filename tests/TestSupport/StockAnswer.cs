using System.Text.Json.Nodes;

namespace CcxProxy.TestSupport;

/// <summary>
/// What a fake provider answers, independent of the server that sends it: a status with a JSON body, or a 200
/// stream of <see cref="StreamStep"/>s. The Kestrel fake (<see cref="FakeUpstream"/>) and the WireMock.Net
/// upstream of the host tests both send these, so the stock answers are written once.
/// </summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Json">The JSON body, or null for a stream.</param>
/// <param name="Stream">The streamed answer's steps, or null for a JSON body.</param>
public sealed record StockAnswer(int Status, JsonNode? Json, IReadOnlyList<StreamStep>? Stream)
{
    /// <summary>Headers sent besides the content type (and, for JSON, a <c>request-id</c>); they replace those.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>A JSON answer.</summary>
    /// <param name="status">The HTTP status.</param>
    /// <param name="body">The body.</param>
    /// <returns>The answer.</returns>
    public static StockAnswer OfJson(int status, JsonNode body) => new(status, body, null);

    /// <summary>A 200 SSE answer.</summary>
    /// <param name="steps">Its frames and pauses.</param>
    /// <returns>The answer.</returns>
    public static StockAnswer OfStream(IEnumerable<StreamStep> steps) => new(200, null, [.. steps]);

    /// <summary>
    /// The stock answers of a provider: Anthropic messages (JSON or streamed) and count_tokens, OpenAI chat
    /// completions (JSON or streamed, with the usage chunk when asked), model lists in the caller's shape, and an
    /// Anthropic 404 for anything else. The answer names the model the request named.
    /// </summary>
    /// <param name="request">The request as received.</param>
    /// <param name="options">Number of streamed events, the pause between them.</param>
    /// <returns>The answer.</returns>
    public static StockAnswer For(RecordedRequest request, FakeUpstreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        var path = request.Path.TrimEnd('/');
        var model = request.Model ?? "fake-model";
        var isPost = string.Equals(request.Method, "POST", StringComparison.OrdinalIgnoreCase);

        if (isPost && path.EndsWith("/v1/messages/count_tokens", StringComparison.Ordinal))
        {
            return OfJson(200, new JsonObject { ["input_tokens"] = request.Body.Length / 4 });
        }

        if (isPost && path.EndsWith("/v1/messages", StringComparison.Ordinal))
        {
            return request.IsStream
                ? OfStream(FakeAnthropic.TextStream(model, options.Text(), options.TextEvents, options.EventDelay))
                : OfJson(200, FakeAnthropic.Message(model, [FakeAnthropic.TextBlock(options.Text())]));
        }

        if (isPost && path.EndsWith("/chat/completions", StringComparison.Ordinal))
        {
            if (!request.IsStream)
            {
                return OfJson(200, FakeOpenAI.ChatCompletion(model, options.Text()));
            }

            var includeUsage = request.Json?["stream_options"]?["include_usage"] is JsonValue v && v.TryGetValue(out bool b) && b;
            return OfStream(FakeOpenAI.TextStream(model, options.Text(), options.TextEvents, includeUsage, options.EventDelay));
        }

        if (string.Equals(request.Method, "GET", StringComparison.OrdinalIgnoreCase) && path.EndsWith("/models", StringComparison.Ordinal))
        {
            return OfJson(200, ModelList(request));
        }

        return OfJson(404, FakeAnthropic.ErrorBody("not_found_error", $"fake upstream: no route for {request.Method} {request.Path}"));
    }

    /// <summary>Anthropic's list shape when the caller sends <c>anthropic-version</c>, OpenAI's otherwise (docs/protocols.md §4).</summary>
    private static JsonObject ModelList(RecordedRequest request)
    {
        if (request.Headers.ContainsKey("anthropic-version"))
        {
            string[] ids = ["claude-sonnet-4-5", "claude-haiku-4-5"];
            var data = new JsonArray();
            foreach (var id in ids)
            {
                data.Add(new JsonObject { ["id"] = id, ["type"] = "model", ["display_name"] = id, ["created_at"] = "2025-09-29T00:00:00Z" });
            }

            return new JsonObject { ["data"] = data, ["has_more"] = false, ["first_id"] = ids[0], ["last_id"] = ids[^1] };
        }

        var list = new JsonArray();
        foreach (var id in new[] { "gpt-4o", "gpt-4o-mini" })
        {
            list.Add(new JsonObject { ["id"] = id, ["object"] = "model", ["created"] = FakeOpenAI.Created, ["owned_by"] = "fake" });
        }

        return new JsonObject { ["object"] = "list", ["data"] = list };
    }
}
