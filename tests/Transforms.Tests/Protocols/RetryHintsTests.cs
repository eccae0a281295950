using CcxProxy.Transforms.Protocols;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Protocols;

[TestFixture]
public sealed class RetryHintsTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Headers as <c>name: value</c> lines, read at <see cref="Now"/>; the result in seconds (null: no hint).</summary>
    private static double? Read(params string[] headers)
    {
        using var response = new HttpResponseMessage();
        foreach (var header in headers)
        {
            var colon = header.IndexOf(':', StringComparison.Ordinal);
            Assert.That(response.Headers.TryAddWithoutValidation(header[..colon], header[(colon + 1)..].Trim()), header);
        }

        return RetryHints.Read(response.Headers, null, Now)?.TotalSeconds;
    }

    [TestCase(new string[0], null, TestName = "No headers: no hint")]
    [TestCase(new[] { "x-request-id: abc", "server: nginx" }, null, TestName = "Unrelated headers: no hint")]
    // retry-after-ms: milliseconds, possibly fractional.
    [TestCase(new[] { "retry-after-ms: 1500" }, 1.5)]
    [TestCase(new[] { "retry-after-ms: 250.5" }, 0.2505)]
    [TestCase(new[] { "retry-after-ms: 0" }, 0.0)]
    [TestCase(new[] { "retry-after-ms: -40" }, 0.0, TestName = "retry-after-ms negative: clamped to zero")]
    // retry-after: delta-seconds, integer or decimal.
    [TestCase(new[] { "retry-after: 7" }, 7.0)]
    [TestCase(new[] { "retry-after: 1.5" }, 1.5)]
    [TestCase(new[] { "retry-after: 0" }, 0.0)]
    [TestCase(new[] { "retry-after: -3" }, 0.0, TestName = "retry-after negative: clamped to zero")]
    // retry-after: HTTP-date, relative to now (IMF-fixdate and the two obsolete forms).
    [TestCase(new[] { "retry-after: Thu, 01 Jan 2026 00:00:30 GMT" }, 30.0)]
    [TestCase(new[] { "retry-after: Thursday, 01-Jan-26 00:01:00 GMT" }, 60.0)]
    [TestCase(new[] { "retry-after: Thu Jan  1 00:00:45 2026" }, 45.0)]
    [TestCase(new[] { "retry-after: Wed, 31 Dec 2025 23:59:00 GMT" }, 0.0, TestName = "retry-after date in the past: zero")]
    // Precedence.
    [TestCase(new[] { "retry-after: 7", "retry-after-ms: 500" }, 0.5, TestName = "retry-after-ms wins over retry-after")]
    [TestCase(new[] { "retry-after-ms: soon", "retry-after: 7" }, 7.0, TestName = "Garbage retry-after-ms: retry-after used")]
    [TestCase(new[] { "retry-after: 7", "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: 2026-01-01T00:01:00Z" },
        7.0, TestName = "retry-after wins over rate-limit resets")]
    [TestCase(new[] { "retry-after: 7", "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 6m0s" },
        7.0, TestName = "retry-after wins over OpenAI resets")]
    // Garbage is ignored, never thrown on.
    [TestCase(new[] { "retry-after: soon" }, null)]
    [TestCase(new[] { "retry-after: " }, null)]
    [TestCase(new[] { "retry-after: 1e3" }, null)]
    [TestCase(new[] { "retry-after: NaN" }, null)]
    [TestCase(new[] { "retry-after: Infinity" }, null)]
    [TestCase(new[] { "retry-after: 12:30" }, null)]
    [TestCase(new[] { "retry-after-ms: 1,5" }, null)]
    [TestCase(new[] { "retry-after: 99999999999999999999999999" }, 922337203685.4775807, TestName = "Absurdly large: saturates, does not throw")]
    public void RetryAfter_Forms(string[] headers, double? seconds) => AssertSeconds(Read(headers), seconds);

    // Anthropic: RFC 3339 resets, counted only for exhausted limits.
    [TestCase(new[] { "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:20Z" }, 20.0)]
    [TestCase(new[] { "anthropic-ratelimit-tokens-remaining: 0", "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:12.5Z" }, 12.5)]
    [TestCase(new[] { "anthropic-ratelimit-input-tokens-remaining: 0", "anthropic-ratelimit-input-tokens-reset: 2026-01-01T02:00:30+02:00" }, 30.0,
        TestName = "Anthropic reset with an offset")]
    [TestCase(new[] { "anthropic-ratelimit-output-tokens-remaining: 0", "anthropic-ratelimit-output-tokens-reset: 2025-12-31T23:59:59Z" }, 0.0,
        TestName = "Anthropic reset in the past: zero")]
    [TestCase(new[] { "anthropic-ratelimit-tokens-remaining: 1000", "anthropic-ratelimit-tokens-reset: 2026-01-01T00:01:00Z" }, null,
        TestName = "Anthropic limit not exhausted: not counted")]
    [TestCase(new[] { "anthropic-ratelimit-tokens-reset: 2026-01-01T00:01:00Z" }, null, TestName = "Anthropic reset without remaining: not counted")]
    [TestCase(new[]
    {
        "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:20Z",
        "anthropic-ratelimit-tokens-remaining: 5", "anthropic-ratelimit-tokens-reset: 2026-01-01T00:05:00Z",
        "anthropic-ratelimit-output-tokens-remaining: 0", "anthropic-ratelimit-output-tokens-reset: 2026-01-01T00:00:45Z",
    }, 45.0, TestName = "Anthropic: the longest of the exhausted limits")]
    [TestCase(new[]
    {
        "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: tomorrow",
        "anthropic-ratelimit-tokens-remaining: 0", "anthropic-ratelimit-tokens-reset: 2026-01-01T00:00:09Z",
    }, 9.0, TestName = "Anthropic: a garbage reset is ignored, the others count")]
    [TestCase(new[] { "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: 30" }, null,
        TestName = "Anthropic: a bare number is not a timestamp")]
    [TestCase(new[] { "anthropic-ratelimit-requests-remaining: none", "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:20Z" }, null,
        TestName = "Anthropic: garbage remaining is not exhausted")]
    // OpenAI: Go durations, counted only for exhausted limits.
    [TestCase(new[] { "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 1s" }, 1.0)]
    [TestCase(new[] { "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 6m0s" }, 360.0)]
    [TestCase(new[] { "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 20ms" }, 0.02)]
    [TestCase(new[] { "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 1h2m3.5s" }, 3723.5)]
    [TestCase(new[] { "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 0.5s" }, 0.5)]
    [TestCase(new[] { "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 5" }, null, TestName = "OpenAI: a duration without unit is garbage")]
    [TestCase(new[] { "x-ratelimit-remaining-tokens: 12", "x-ratelimit-reset-tokens: 6m0s" }, null, TestName = "OpenAI limit not exhausted: not counted")]
    [TestCase(new[]
    {
        "x-ratelimit-remaining-requests: 3", "x-ratelimit-reset-requests: 10m",
        "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 1m30s",
    }, 90.0, TestName = "OpenAI: only the exhausted limit counts")]
    [TestCase(new[]
    {
        "x-ratelimit-remaining-requests: 0", "x-ratelimit-reset-requests: 2s",
        "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 1m30s",
    }, 90.0, TestName = "OpenAI: the longest of the exhausted limits")]
    [TestCase(new[]
    {
        "anthropic-ratelimit-requests-remaining: 0", "anthropic-ratelimit-requests-reset: 2026-01-01T00:00:20Z",
        "x-ratelimit-remaining-tokens: 0", "x-ratelimit-reset-tokens: 25s",
    }, 25.0, TestName = "Both families: the longest")]
    public void RateLimitResets(string[] headers, double? seconds) => AssertSeconds(Read(headers), seconds);

    private static void AssertSeconds(double? actual, double? expected)
    {
        if (expected is null)
        {
            Assert.That(actual, Is.Null);
        }
        else
        {
            Assert.That(actual, Is.EqualTo(expected.Value).Within(1e-6));
        }
    }

    [Test]
    public void ContentHeaders_AreReadToo()
    {
        using var response = new HttpResponseMessage { Content = new ByteArrayContent([]) };
        response.Content.Headers.TryAddWithoutValidation("retry-after-ms", "800");

        Assert.That(RetryHints.Read(response.Headers, response.Content.Headers, Now), Is.EqualTo(TimeSpan.FromMilliseconds(800)));
    }

    [Test]
    public void ParsedTypedHeader_StillRead()
    {
        using var response = new HttpResponseMessage();
        response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(12));

        Assert.That(RetryHints.Read(response.Headers, null, Now), Is.EqualTo(TimeSpan.FromSeconds(12)));
    }

    [TestCase("0", 0.0)]
    [TestCase("1s", 1.0)]
    [TestCase("+1s", 1.0)]
    [TestCase("-1s", 0.0)]
    [TestCase("1.5h", 5400.0)]
    [TestCase("2h45m", 9900.0)]
    [TestCase("300ms", 0.3)]
    [TestCase(".5s", 0.5)]
    [TestCase("1us", 1e-6)]
    [TestCase("1\u00B5s", 1e-6)]
    [TestCase("1\u03BCs", 1e-6)]
    [TestCase("1000000ns", 1e-3)]
    [TestCase(" 6m0s ", 360.0)]
    public void GoDuration_Valid(string text, double seconds)
    {
        Assert.That(RetryHints.TryParseGoDuration(text, out var value), Is.True);
        Assert.That(value.TotalSeconds, Is.EqualTo(seconds).Within(1e-9));
    }

    [TestCase("")]
    [TestCase("s")]
    [TestCase("1")]
    [TestCase("1x")]
    [TestCase("1.2.3s")]
    [TestCase("--1s")]
    [TestCase("1s2")]
    [TestCase(".s")]
    [TestCase("1 s")]
    public void GoDuration_Invalid(string text) => Assert.That(RetryHints.TryParseGoDuration(text, out _), Is.False);
}
