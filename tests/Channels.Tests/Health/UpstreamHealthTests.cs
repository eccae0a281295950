using CcxProxy.Channels.Health;
using CcxProxy.Channels.Routing;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class UpstreamHealthTests
{
    private static readonly BreakerOptions Options = HealthTestData.Options;

    private ManualTimeProvider _time = null!;
    private UpstreamHealth _health = null!;
    private List<SharedCooldown> _announced = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new ManualTimeProvider(HealthTestData.Start);
        _health = new UpstreamHealth(Options, _time);
        _announced = [];
        _health.CooldownStarted += _announced.Add;
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    private static ChannelConfig Channel(string name = "a", int keys = 2, int urls = 2) => HealthTestData.Channel(name, keys, urls);

    /// <summary>Sends one attempt to <paramref name="channel"/> and reports <paramref name="report"/> for it.</summary>
    private UpstreamTarget Attempt(ChannelConfig channel, AttemptReport report)
    {
        var plan = new RoutePlan(_health, [channel], affinity: null);
        Assert.That(plan.TryNext(out var target), Is.True);
        plan.Report(target!, report);
        return target!;
    }

    [Test]
    public void Constructor_InvalidOptions_Throws() =>
        Assert.That(() => new UpstreamHealth(new BreakerOptions { MinimumAttempts = 0 }, _time), Throws.TypeOf<ArgumentOutOfRangeException>());

    [Test]
    public void For_SameChannelName_SameBreakers()
    {
        var first = Channel("Kimi");
        var reloaded = first with { Name = "kimi" }; // a new instance after a reload; names are case-insensitive like cluster ids
        var health = _health.For(first);

        Assert.Multiple(() =>
        {
            Assert.That(_health.For(reloaded), Is.SameAs(health));
            Assert.That(health.Key(first.ApiKeys[0].Fingerprint), Is.SameAs(_health.For(reloaded).Key(reloaded.ApiKeys[0].Fingerprint)));
            Assert.That(health.Destination(first.BaseUrls[1]), Is.SameAs(_health.For(reloaded).Destination(new Uri("https://kimi-1.example.com"))));
            Assert.That(_health.For(Channel("other")), Is.Not.SameAs(health));
            Assert.That(health.Key(first.ApiKeys[0].Fingerprint), Is.Not.SameAs(health.Key(first.ApiKeys[1].Fingerprint)));
        });
    }

    [Test]
    public void IsAvailable_Fresh_True() => Assert.That(_health.IsAvailable(Channel()), Is.True);

    [Test]
    public void IsAvailable_ChannelBreakerOpen_False()
    {
        var channel = Channel();
        _health.For(channel).Channel.CoolDown(Now, Now + TimeSpan.FromSeconds(10), FailureKind.Overloaded);
        Assert.That(_health.IsAvailable(channel), Is.False);

        _time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(_health.IsAvailable(channel), Is.True, "the cooldown is over: a probe may go");
    }

    [Test]
    public void IsAvailable_SomeKeysOpen_TrueUntilEveryKeyIsOpen()
    {
        var channel = Channel(keys: 3);
        var health = _health.For(channel);
        health.Key(channel.ApiKeys[0].Fingerprint).Reject(Now);
        health.Key(channel.ApiKeys[1].Fingerprint).CoolDown(Now, Now + TimeSpan.FromSeconds(30), FailureKind.RateLimited);
        Assert.That(_health.IsAvailable(channel), Is.True, "one key is still fine");

        health.Key(channel.ApiKeys[2].Fingerprint).Reject(Now);
        Assert.That(_health.IsAvailable(channel), Is.False);
    }

    [Test]
    public void IsAvailable_SomeDestinationsOpen_TrueUntilEveryDestinationIsOpen()
    {
        var channel = Channel(urls: 2);
        var health = _health.For(channel);
        health.Destination(channel.BaseUrls[0]).Apply(Now, Now + TimeSpan.FromSeconds(5), FailureKind.Unreachable);
        Assert.That(_health.IsAvailable(channel), Is.True, "one destination is still fine");

        health.Destination(channel.BaseUrls[1]).Apply(Now, Now + TimeSpan.FromSeconds(5), FailureKind.Unreachable);
        Assert.That(_health.IsAvailable(channel), Is.False);
    }

    [Test]
    public void Apply_KeyFingerprint_CoolsThatKeyOnly()
    {
        var channel = Channel();
        var cooled = channel.ApiKeys[1].Fingerprint;
        _health.Apply(new SharedCooldown("a", cooled, Now + TimeSpan.FromSeconds(30), FailureKind.RateLimited));

        var health = _health.For(channel);
        Assert.Multiple(() =>
        {
            Assert.That(health.Key(cooled).IsAvailable(Now), Is.False);
            Assert.That(health.Key(cooled).OpenReason, Is.EqualTo(FailureKind.RateLimited));
            Assert.That(health.Key(channel.ApiKeys[0].Fingerprint).IsAvailable(Now), Is.True);
            Assert.That(health.Channel.IsAvailable(Now), Is.True);
            Assert.That(_health.IsAvailable(channel), Is.True);
        });
    }

    [Test]
    public void Apply_NullFingerprint_CoolsChannel()
    {
        var channel = Channel();
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded));

        var health = _health.For(channel);
        Assert.Multiple(() =>
        {
            Assert.That(health.Channel.IsAvailable(Now), Is.False);
            Assert.That(health.Channel.AvailableAt(Now), Is.EqualTo(Now + TimeSpan.FromSeconds(30)));
            Assert.That(health.Channel.OpenReason, Is.EqualTo(FailureKind.Overloaded));
            Assert.That(_health.IsAvailable(channel), Is.False);
        });
    }

    [Test]
    public void Apply_AnyCooldown_NotAnnounced()
    {
        var channel = Channel();
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded));
        _health.Apply(new SharedCooldown("a", channel.ApiKeys[0].Fingerprint, Now + TimeSpan.FromMinutes(5), FailureKind.KeyRejected));
        Assert.That(_announced, Is.Empty, "a cooldown learnt from another replica must not echo back");
    }

    [Test]
    public void Report_KeyRejected_Announced()
    {
        var channel = Channel();
        var target = Attempt(channel, AttemptReport.Failed(FailureKind.KeyRejected));

        Assert.That(_announced, Is.EqualTo(new[]
        {
            new SharedCooldown("a", target.Key.Fingerprint, Now + Options.KeyRejectedCooldown, FailureKind.KeyRejected),
        }));
    }

    [Test]
    public void Report_RateLimitedWithRetryAfter_KeyCooldownAnnounced()
    {
        var channel = Channel();
        var target = Attempt(channel, AttemptReport.Failed(FailureKind.RateLimited, TimeSpan.FromSeconds(12)));

        Assert.Multiple(() =>
        {
            Assert.That(_announced, Is.EqualTo(new[]
            {
                new SharedCooldown("a", target.Key.Fingerprint, Now + TimeSpan.FromSeconds(12), FailureKind.RateLimited),
            }));
            Assert.That(_health.For(channel).Key(target.Key.Fingerprint).IsAvailable(Now), Is.False);
        });
    }

    [Test]
    public void Report_OverloadedWithRetryAfter_ChannelCooldownAnnounced()
    {
        var channel = Channel();
        Attempt(channel, AttemptReport.Failed(FailureKind.Overloaded, TimeSpan.FromSeconds(20)));

        Assert.Multiple(() =>
        {
            Assert.That(_announced, Is.EqualTo(new[] { new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(20), FailureKind.Overloaded) }));
            Assert.That(_health.For(channel).Channel.IsAvailable(Now), Is.False);
        });
    }

    [Test]
    public void Report_RetryAfterBeyondMaxCooldown_AnnouncesCappedUntil()
    {
        var channel = Channel();
        Attempt(channel, AttemptReport.Failed(FailureKind.Overloaded, TimeSpan.FromHours(2)));
        Assert.That(_announced.Single().Until, Is.EqualTo(Now + Options.MaxCooldown));
    }

    [TestCase(FailureKind.RateLimited)]
    [TestCase(FailureKind.Overloaded)]
    [TestCase(FailureKind.ServerError)]
    [TestCase(FailureKind.Unreachable)]
    [TestCase(FailureKind.StreamFailed)]
    public void Report_FailureWithoutRetryAfter_NotAnnounced(FailureKind failure)
    {
        Attempt(Channel(), AttemptReport.Failed(failure));
        Assert.That(_announced, Is.Empty);
    }

    [Test]
    public void Report_ServerErrorWithRetryAfter_NotAnnounced()
    {
        // Only 429 (the key) and 529/503 (the channel) cool for retry-after; a 500 goes through the breaker.
        Attempt(Channel(), AttemptReport.Failed(FailureKind.ServerError, TimeSpan.FromSeconds(30)));
        Assert.That(_announced, Is.Empty);
    }

    [Test]
    public void Report_SuccessOrAbandoned_NotAnnounced()
    {
        Attempt(Channel(), AttemptReport.Success);
        Attempt(Channel(), AttemptReport.Abandoned);
        Assert.That(_announced, Is.Empty);
    }

    [Test]
    public void Retain_ChannelGone_ForgottenAndStartsFreshWhenReadded()
    {
        var a = Channel("a");
        var b = Channel("b");
        var aHealth = _health.For(a);
        var bHealth = _health.For(b);
        aHealth.Channel.CoolDown(Now, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded);
        bHealth.Channel.CoolDown(Now, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded);

        _health.Retain(HealthTestData.Snapshot(2, b));
        Assert.Multiple(() =>
        {
            Assert.That(_health.For(b), Is.SameAs(bHealth), "b is still there");
            Assert.That(_health.IsAvailable(b), Is.False, "b keeps its state");
        });

        _health.Retain(HealthTestData.Snapshot(3, a, b));
        Assert.Multiple(() =>
        {
            Assert.That(_health.For(a), Is.Not.SameAs(aHealth));
            Assert.That(_health.IsAvailable(a), Is.True, "a re-added channel starts fresh");
            Assert.That(_health.Report(a).Channel.State, Is.EqualTo(BreakerState.Closed));
        });
    }

    [Test]
    public void Retain_KeyAndDestinationGone_ForgottenOthersKept()
    {
        var full = Channel("a", keys: 2, urls: 2);
        var health = _health.For(full);
        foreach (var key in full.ApiKeys)
        {
            health.Key(key.Fingerprint).Reject(Now);
        }

        foreach (var url in full.BaseUrls)
        {
            health.Destination(url).Apply(Now, Now + TimeSpan.FromSeconds(5), FailureKind.Unreachable);
        }

        var trimmed = full with { ApiKeys = [full.ApiKeys[0]], BaseUrls = [full.BaseUrls[0]] };
        _health.Retain(HealthTestData.Snapshot(2, trimmed));
        _health.Retain(HealthTestData.Snapshot(3, full));

        Assert.Multiple(() =>
        {
            Assert.That(_health.For(full), Is.SameAs(health));
            Assert.That(health.Key(full.ApiKeys[0].Fingerprint).IsAvailable(Now), Is.False, "kept");
            Assert.That(health.Key(full.ApiKeys[1].Fingerprint).IsAvailable(Now), Is.True, "removed then re-added: fresh");
            Assert.That(health.Destination(full.BaseUrls[0]).IsAvailable(Now), Is.False, "kept");
            Assert.That(health.Destination(full.BaseUrls[1]).IsAvailable(Now), Is.True, "removed then re-added: fresh");
        });
    }

    [Test]
    public void Retain_SameVersionTwice_SecondCallIgnored()
    {
        var a = Channel("a");
        var late = Channel("late");
        _health.Retain(HealthTestData.Snapshot(5, a));
        var lateHealth = _health.For(late); // first used after version 5 was retained
        _health.Retain(HealthTestData.Snapshot(5, a));
        Assert.That(_health.For(late), Is.SameAs(lateHealth), "a snapshot already retained is not walked again");

        _health.Retain(HealthTestData.Snapshot(6, a));
        Assert.That(_health.For(late), Is.Not.SameAs(lateHealth), "the next version forgets it");
    }

    [Test]
    public void Report_Channel_KeysAndDestinationsInFileOrderWithoutSecrets()
    {
        var channel = Channel("a", keys: 3, urls: 2);
        _health.For(channel).Key(channel.ApiKeys[1].Fingerprint).Reject(Now);

        var report = _health.Report(channel);
        Assert.Multiple(() =>
        {
            Assert.That(report.Available, Is.True);
            Assert.That(report.Channel.State, Is.EqualTo(BreakerState.Closed));
            Assert.That(report.Keys.Select(k => k.Fingerprint), Is.EqualTo(channel.ApiKeys.Select(k => k.Fingerprint)));
            Assert.That(report.Keys.Select(k => k.Breaker.State), Is.EqualTo(new[] { BreakerState.Closed, BreakerState.Open, BreakerState.Closed }));
            Assert.That(report.Keys[1].Breaker.Reason, Is.EqualTo(FailureKind.KeyRejected));
            Assert.That(report.Destinations.Select(d => d.BaseUrl), Is.EqualTo(new[] { "https://a-0.example.com", "https://a-1.example.com" }));
            Assert.That(report.Keys.Select(k => k.Fingerprint), Has.All.Match("^[0-9a-f]{8}$"), "fingerprints, not secrets");
            foreach (var key in channel.ApiKeys)
            {
                Assert.That(report.ToString(), Does.Not.Contain(key.Value));
            }
        });
    }

    [Test]
    public void NextKeyIndex_ThreeKeys_RotatesRoundRobin()
    {
        var health = _health.For(ChannelTestData.Channel("c"));

        var picked = Enumerable.Range(0, 6).Select(_ => health.NextKeyIndex(3)).ToArray();

        Assert.That(picked, Is.EqualTo(new[] { 0, 1, 2, 0, 1, 2 }));
    }

    [Test]
    public void NextKeyIndex_ConcurrentCalls_SpreadEvenly()
    {
        var health = _health.For(ChannelTestData.Channel("c"));
        var counts = new int[2];

        Parallel.For(0, 10_000, _ => Interlocked.Increment(ref counts[health.NextKeyIndex(2)]));

        Assert.That(counts, Is.EqualTo(new[] { 5_000, 5_000 }));
    }

    [Test]
    public void NextKeyIndex_OutlivesAReloadOfTheChannel()
    {
        var before = _health.For(ChannelTestData.Channel("c"));
        before.NextKeyIndex(2);

        // A reload makes a new config record; the rotation is runtime state and goes on where it was.
        var after = _health.For(ChannelTestData.Channel("c") with { Priority = 3 });

        Assert.That(after, Is.SameAs(before));
        Assert.That(after.NextKeyIndex(2), Is.EqualTo(1));
    }
}
