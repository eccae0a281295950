using System.Text.Json;

namespace CcxProxy.Transforms.Json;

/// <summary>Telling a JSON document of another shape than expected apart from a fault of the gateway's own.</summary>
public static class JsonShape
{
    /// <summary>
    /// Whether <paramref name="ex"/> is what System.Text.Json throws for JSON of another shape than its reader expected (not
    /// JSON at all, a string where a number goes, a missing property read with <c>GetProperty</c>): a fault of whoever sent
    /// the JSON. What any other code throws (a converter's own invariant, a buffer misused) is a fault of the gateway's and
    /// stays an exception, logged with its stack.
    /// </summary>
    /// <param name="ex">The exception.</param>
    public static bool IsWrongShape(Exception ex) =>
        ex is JsonException
        // System.Text.Json names itself as the source ("System.Text.Json", or "System.Text.Json.Rethrowable" for what its
        // element accessors throw).
        || (ex is InvalidOperationException or FormatException or KeyNotFoundException && ex.Source is { } source
            && (source == "System.Text.Json" || source.StartsWith("System.Text.Json.", StringComparison.Ordinal)));
}
