using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Conversion;

/// <summary>Reads a request conversion's result in a test: the converted request, or the refusal.</summary>
internal static class ConversionResults
{
    /// <summary>The converted request (or route); fails the test when the conversion was refused.</summary>
    public static T Converted<T>(this GatewayResult<T> result)
        where T : class
    {
        Assert.That(result.Failed(out var error, out var converted), Is.False, $"conversion refused: {error?.Message}");
        return converted!;
    }

    /// <summary>The refusal's message; fails the test unless the conversion was refused with a 400.</summary>
    public static string Refusal<T>(this GatewayResult<T> result)
        where T : class
    {
        Assert.That(result.Failed(out var error, out _), Is.True, "the conversion was not refused");
        Assert.That(error!.Status, Is.EqualTo(400));
        return error.Message;
    }
}
