namespace CcxProxy.Transforms.Tests.Conversion.OpenAIChat.ClientSide;

/// <summary>Anthropic upstream answers, each streamed and whole, for the A→O answer converters.</summary>
internal static class AnthropicFixtures
{
    public static string MessageStart(string id = "msg_1", int input = 10, int cacheRead = 0, int cacheCreation = 0) =>
        "{\"type\":\"message_start\",\"message\":{\"id\":\"" + id + "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":" + input + ",\"output_tokens\":1,\"cache_read_input_tokens\":" + cacheRead + ",\"cache_creation_input_tokens\":" + cacheCreation + "}}}";

    public static string TextStart(int index) => "{\"type\":\"content_block_start\",\"index\":" + index + ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";

    public static string ThinkingStart(int index) => "{\"type\":\"content_block_start\",\"index\":" + index + ",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}";

    public static string ToolStart(int index, string id, string name) =>
        "{\"type\":\"content_block_start\",\"index\":" + index + ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"" + id + "\",\"name\":\"" + name + "\",\"input\":{}}}";

    public static string TextDelta(int index, string text) =>
        "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":\"text_delta\",\"text\":" + Q(text) + "}}";

    public static string ThinkingDelta(int index, string text) =>
        "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":\"thinking_delta\",\"thinking\":" + Q(text) + "}}";

    public static string SignatureDelta(int index) => "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds\"}}";

    public static string JsonDelta(int index, string partial) =>
        "{\"type\":\"content_block_delta\",\"index\":" + index + ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":" + Q(partial) + "}}";

    public static string BlockStop(int index) => "{\"type\":\"content_block_stop\",\"index\":" + index + "}";

    public static string MessageDelta(string stopReason, int output) =>
        "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"" + stopReason + "\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":" + output + "}}";

    /// <summary>
    /// A JSON string literal that keeps every non-ASCII character as raw UTF-8 (only quotes, backslashes and
    /// control characters escaped), so multi-byte characters really are split by byte-level reads (§8 #20).
    /// </summary>
    public static string Q(string value)
    {
        var builder = new System.Text.StringBuilder("\"");
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => builder.Append("\\\""),
                '\\' => builder.Append("\\\\"),
                < ' ' => builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture)),
                _ => builder.Append(c),
            };
        }

        return builder.Append('"').ToString();
    }

    public const string MessageStop = """{"type":"message_stop"}""";

    public const string Ping = """{"type":"ping"}""";

    /// <summary>§9: three parallel tool_use blocks after a thinking block and a text block, with cache usage.</summary>
    public static byte[] ParallelToolsStream() => StreamHarness.Anthropic(
        MessageStart(input: 10, cacheRead: 100, cacheCreation: 20),
        ThinkingStart(0),
        ThinkingDelta(0, "Three cities, "),
        ThinkingDelta(0, "three calls."),
        SignatureDelta(0),
        BlockStop(0),
        TextStart(1),
        TextDelta(1, "Checking "),
        TextDelta(1, "all three."),
        BlockStop(1),
        ToolStart(2, "toolu_a", "get_weather"),
        JsonDelta(2, ""),
        JsonDelta(2, "{\"city\":"),
        JsonDelta(2, "\"Paris\"}"),
        BlockStop(2),
        ToolStart(3, "toolu_b", "get_weather"),
        JsonDelta(3, "{\"city\":\"東京\"}"),
        BlockStop(3),
        Ping,
        ToolStart(4, "toolu_c", "get_time"),
        BlockStop(4),
        MessageDelta("tool_use", 42),
        MessageStop);

    /// <summary>The same answer, not streamed.</summary>
    public const string ParallelToolsMessage = """
        {"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
         "content":[
           {"type":"thinking","thinking":"Three cities, three calls.","signature":"EqQBCgIYAhIM"},
           {"type":"text","text":"Checking all three."},
           {"type":"tool_use","id":"toolu_a","name":"get_weather","input":{"city":"Paris"}},
           {"type":"tool_use","id":"toolu_b","name":"get_weather","input":{"city":"東京"}},
           {"type":"tool_use","id":"toolu_c","name":"get_time","input":{}}],
         "stop_reason":"tool_use","stop_sequence":null,
         "usage":{"input_tokens":10,"output_tokens":42,"cache_read_input_tokens":100,"cache_creation_input_tokens":20}}
        """;

    /// <summary>CJK and emoji text in several deltas (each multi-byte character will be split by byte-level reads).</summary>
    public const string UnicodeText = "日本語のテキスト 😀👍🏽 and ASCII, 中文 🎉";

    public static byte[] UnicodeStream() => StreamHarness.Anthropic(
        MessageStart(),
        TextStart(0),
        TextDelta(0, UnicodeText[..7]),
        TextDelta(0, UnicodeText[7..]),
        BlockStop(0),
        MessageDelta("end_turn", 12),
        MessageStop);

    public static readonly string UnicodeMessage =
        "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"" + UnicodeText + "\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":10,\"output_tokens\":12}}";

    /// <summary>Plain text: message_start, one text block, end_turn.</summary>
    public static byte[] TextStream(string stopReason = "end_turn") => StreamHarness.Anthropic(
        MessageStart(input: 3),
        TextStart(0),
        Ping,
        TextDelta(0, "Hel"),
        TextDelta(0, "lo"),
        BlockStop(0),
        MessageDelta(stopReason, 5),
        MessageStop);
}
