using CcxProxy.Channels.Health;
using CcxProxy.Transforms.Vocabulary;

namespace CcxProxy.Channels.Tests;

/// <summary>Channels with several keys and destinations, and breaker settings small enough to reason about.</summary>
internal static class HealthTestData
{
    public static readonly DateTimeOffset Start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Round numbers, distinct from each other, so every assertion says which setting it checks.</summary>
    public static readonly BreakerOptions Options = new()
    {
        ConsecutiveFailures = 3,
        // The mechanics under test here are per breaker; the rule that one caller cannot open a shared breaker
        // has its own tests (CircuitBreakerTests, *Callers*), with the default of 2.
        MinimumCallers = 1,
        FailureRatio = 0.5,
        MinimumAttempts = 10,
        Window = TimeSpan.FromSeconds(60),
        BaseCooldown = TimeSpan.FromSeconds(5),
        MaxCooldown = TimeSpan.FromSeconds(30),
        KeyRejectedCooldown = TimeSpan.FromMinutes(5),
        MaxKeyRejectedCooldown = TimeSpan.FromMinutes(30),
        ProbeTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>A channel with keys <c>sk-NAME-0..</c> and base URLs <c>https://NAME-0.example.com..</c>.</summary>
    public static ChannelConfig Channel(string name, int keys = 2, int urls = 2, int priority = 0, int weight = 1) => new()
    {
        Name = name,
        Type = WireProtocol.Anthropic,
        BaseUrls = [.. Enumerable.Range(0, urls).Select(i => new Uri($"https://{name}-{i}.example.com"))],
        ApiKeys = [.. Enumerable.Range(0, keys).Select(i => new UpstreamKey($"sk-{name}-{i}"))],
        Priority = priority,
        Weight = weight,
        SourceFile = name + ".json",
    };

    public static ChannelSnapshot Snapshot(long version, params ChannelConfig[] channels) => new(channels, [], version, Start, "/channels");
}
