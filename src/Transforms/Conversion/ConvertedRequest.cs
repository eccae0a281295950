using System.Text.Json;
using CcxProxy.Transforms.Protocols;

namespace CcxProxy.Transforms.Conversion;

/// <summary>A request converted for the upstream's protocol. A request that cannot be converted is a <see cref="GatewayError"/> instead (<see cref="Refused"/>).</summary>
/// <param name="Body">The upstream request body (UTF-8 JSON).</param>
/// <param name="Stream">True when the client asked for a stream.</param>
/// <param name="ToolNames">How tool names were changed for the upstream, to change them back in the answer.</param>
public sealed record ConvertedRequest(byte[] Body, bool Stream, ToolNameMap ToolNames)
{
    /// <summary>A request the gateway refuses to convert: a 400 to the caller, with the reason.</summary>
    /// <param name="reason">Why, phrased for the caller.</param>
    public static GatewayError Refused(string reason) => new(400, reason);

    /// <summary>A request body as one JSON value to convert, or the 400 that says where it is malformed. The caller disposes it.</summary>
    /// <param name="body">The request body.</param>
    public static GatewayResult<JsonDocument> Parse(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            return JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            return Refused("malformed JSON: " + ex.Message.Split(" Path:", 2)[0]);
        }
    }
}
