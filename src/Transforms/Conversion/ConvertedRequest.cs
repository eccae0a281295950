using System.Text.Json;
using CcxProxy.Transforms.Json;
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

    /// <summary>
    /// <paramref name="body"/> parsed, and its root converted by <paramref name="convert"/>; the 400 that says why not when
    /// the JSON is malformed, or when a field holds a JSON type the converter did not foresee (an array where a string
    /// goes): that is the client's mistake too, never the gateway's 500.
    /// </summary>
    /// <param name="body">The request body.</param>
    /// <param name="state">What the conversion needs besides the root (passed on, so the delegate captures nothing).</param>
    /// <param name="convert">The conversion of the parsed root.</param>
    public static GatewayResult<ConvertedRequest> Convert<TState>(ReadOnlySpan<byte> body, TState state, Func<JsonElement, TState, GatewayResult<ConvertedRequest>> convert)
    {
        ArgumentNullException.ThrowIfNull(convert);
        if (Parse(body).Failed(out var malformed, out var document))
        {
            return malformed;
        }

        using (document)
        {
            try
            {
                return convert(document.RootElement, state);
            }
            catch (Exception ex) when (JsonShape.IsWrongShape(ex))
            {
                return Refused($"a field has a value of the wrong type ({ex.Message})");
            }
        }
    }

    // A request body as one JSON value to convert, or the 400 that says where it is malformed. The caller disposes it.
    private static GatewayResult<JsonDocument> Parse(ReadOnlySpan<byte> body)
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
