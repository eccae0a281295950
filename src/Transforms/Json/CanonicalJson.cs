using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace CcxProxy.Transforms.Json;

/// <summary>
/// One spelling of a JSON document for comparing requests: object members sorted by name (bytes, ordinal),
/// no whitespace, arrays in order. Strings and numbers keep their spelling as sent (<c>"A"</c> and <c>"\u0041"</c>,
/// or <c>1</c> and <c>1.0</c>, stay different): two documents that spell the same value differently may miss a
/// match, never make a false one. Never throws on a string a lone surrogate was cut from.
/// </summary>
public static class CanonicalJson
{
    /// <summary>Writes the canonical form of <paramref name="utf8Json"/>; false (nothing useful written) when it is not JSON.</summary>
    public static bool TryWrite(ReadOnlyMemory<byte> utf8Json, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            using var document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 256 });
            Write(document.RootElement, output);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void Write(JsonElement element, IBufferWriter<byte> output)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
            {
                var members = new List<JsonProperty>();
                foreach (var member in element.EnumerateObject())
                {
                    members.Add(member);
                }

                // Stable: members of the same name (JSON allows them) keep their order.
                var sorted = members.Select((member, index) => (member, index))
                    .OrderBy(m => m.member, NameComparer.Instance).ThenBy(m => m.index).Select(m => m.member);
                output.Write("{"u8);
                var first = true;
                foreach (var member in sorted)
                {
                    if (!first)
                    {
                        output.Write(","u8);
                    }

                    first = false;
                    output.Write("\""u8);
                    output.Write(JsonMarshal.GetRawUtf8PropertyName(member));
                    output.Write("\":"u8);
                    Write(member.Value, output);
                }

                output.Write("}"u8);
                break;
            }

            case JsonValueKind.Array:
            {
                output.Write("["u8);
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first)
                    {
                        output.Write(","u8);
                    }

                    first = false;
                    Write(item, output);
                }

                output.Write("]"u8);
                break;
            }

            default:
                // Strings (quotes and escapes as sent), numbers, true, false, null.
                output.Write(JsonMarshal.GetRawUtf8Value(element));
                break;
        }
    }

    private sealed class NameComparer : IComparer<JsonProperty>
    {
        public static readonly NameComparer Instance = new();

        public int Compare(JsonProperty x, JsonProperty y) =>
            JsonMarshal.GetRawUtf8PropertyName(x).SequenceCompareTo(JsonMarshal.GetRawUtf8PropertyName(y));
    }
}
