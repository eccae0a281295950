using System.Text.Json;

namespace CcxProxy.Transforms.Conversion.Gemini;

/// <summary>
/// Google's OpenAPI-subset <c>Schema</c> (<c>parameters</c>, <c>responseSchema</c>) as JSON Schema, for providers
/// that read only JSON Schema: type names in capitals (<c>OBJECT</c>) become JSON Schema's (<c>object</c>),
/// <c>nullable: true</c> adds <c>"null"</c> to the type, and Google's <c>propertyOrdering</c> is dropped.
/// Everything else (properties, items, enum, required, anyOf, descriptions, formats) is copied as it is.
/// </summary>
internal static class GeminiSchema
{
    /// <summary>Writes <paramref name="schema"/> as JSON Schema.</summary>
    public static void WriteAsJsonSchema(Utf8JsonWriter json, JsonElement schema)
    {
        switch (schema.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(json, schema);
                break;
            case JsonValueKind.Array:
                json.WriteStartArray();
                foreach (var item in schema.EnumerateArray())
                {
                    WriteAsJsonSchema(json, item);
                }

                json.WriteEndArray();
                break;
            default:
                schema.WriteTo(json);
                break;
        }
    }

    private static void WriteObject(Utf8JsonWriter json, JsonElement schema)
    {
        var nullable = schema.TryGetProperty("nullable", out var n) && n.ValueKind == JsonValueKind.True;
        json.WriteStartObject();
        foreach (var field in schema.EnumerateObject())
        {
            switch (field.Name)
            {
                case "nullable" or "propertyOrdering":
                    break;
                case "type" when field.Value.ValueKind == JsonValueKind.String:
                    var type = field.Value.GetString()!.ToLowerInvariant();
                    json.WritePropertyName("type"u8);
                    if (nullable && type != "null")
                    {
                        json.WriteStartArray();
                        json.WriteStringValue(type);
                        json.WriteStringValue("null"u8);
                        json.WriteEndArray();
                    }
                    else
                    {
                        json.WriteStringValue(type);
                    }

                    break;
                case "properties" when field.Value.ValueKind == JsonValueKind.Object:
                    // Property names are data, not keywords: copied, their schemas converted.
                    json.WriteStartObject("properties"u8);
                    foreach (var property in field.Value.EnumerateObject())
                    {
                        json.WritePropertyName(property.Name);
                        WriteAsJsonSchema(json, property.Value);
                    }

                    json.WriteEndObject();
                    break;
                case "items" or "anyOf" or "oneOf" or "allOf" or "additionalProperties" or "not":
                    json.WritePropertyName(field.Name);
                    WriteAsJsonSchema(json, field.Value);
                    break;
                default:
                    field.WriteTo(json);
                    break;
            }
        }

        json.WriteEndObject();
    }
}
