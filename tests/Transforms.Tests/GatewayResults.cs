using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests;

/// <summary>Reads a <see cref="GatewayResult{T}"/> in a test: the value, or the refusal.</summary>
internal static class GatewayResults
{
    /// <summary>The value; fails the test when it was refused.</summary>
    public static T Value<T>(this GatewayResult<T> result)
    {
        Assert.That(result.Failed(out var error, out var converted), Is.False, $"refused: {error?.Message}");
        return converted!;
    }

    /// <summary>The refusal's message; fails the test unless it was refused with a 400.</summary>
    public static string Refusal<T>(this GatewayResult<T> result)
    {
        Assert.That(result.Failed(out var error, out _), Is.True, "it was not refused");
        Assert.That(error!.Status, Is.EqualTo(400));
        return error.Message;
    }
}
