using CcxProxy.Channels.Health;
using CcxProxy.Channels.Routing;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class RoutePlanTests
{
    private static readonly BreakerOptions Options = HealthTestData.Options;

    /// <summary>Breakers that never trip by counting, so a plan can walk every pair.</summary>
    private static readonly BreakerOptions Lenient = Options with { ConsecutiveFailures = 1_000, MinimumAttempts = 1_000 };

    private ManualTimeProvider _time = null!;
    private UpstreamHealth _health = null!;

    [SetUp]
    public void SetUp()
    {
        _time = new ManualTimeProvider(HealthTestData.Start);
        _health = new UpstreamHealth(Options, _time);
    }

    private DateTimeOffset Now => _time.GetUtcNow();

    private static ChannelConfig Channel(string name, int keys = 2, int urls = 2) => HealthTestData.Channel(name, keys, urls);

    private RoutePlan Plan(params ChannelConfig[] channels) => new(_health, channels, affinity: null);

    private RoutePlan Plan(ulong affinity, params ChannelConfig[] channels) => new(_health, channels, affinity);

    private static UpstreamTarget Next(RoutePlan plan)
    {
        Assert.That(plan.TryNext(out var target), Is.True, "TryNext should find a target");
        return target!;
    }

    private static (string Channel, string Key, Uri BaseUrl) Triple(UpstreamTarget target) => (target.Channel.Name, target.Key.Fingerprint, target.BaseUrl);

    private static AttemptReport Failed(FailureKind failure, int retryAfterSeconds) =>
        AttemptReport.Failed(failure, retryAfterSeconds > 0 ? TimeSpan.FromSeconds(retryAfterSeconds) : null);

    private static IEnumerable<FailureKind> AllFailures => Enum.GetValues<FailureKind>().Where(f => f != FailureKind.None);

    [Test]
    public void TryNext_First_FirstCandidateChannel()
    {
        var a = Channel("a");
        var b = Channel("b");
        var plan = Plan(a, b);

        var target = Next(plan);
        Assert.Multiple(() =>
        {
            Assert.That(target.Channel, Is.SameAs(a));
            Assert.That(a.ApiKeys, Does.Contain(target.Key));
            Assert.That(a.BaseUrls, Does.Contain(target.BaseUrl));
            Assert.That(target.Attempt, Is.EqualTo(1));
            Assert.That(target.IsProbe, Is.False);
            Assert.That(plan.Attempts, Is.EqualTo(1));
            Assert.That(plan.Candidates, Is.EqualTo(new[] { a, b }));
        });
    }

    [Test]
    public void TryNext_NoCandidates_FalseAndUnavailableNull()
    {
        var plan = Plan();
        Assert.Multiple(() =>
        {
            Assert.That(plan.TryNext(out var target), Is.False);
            Assert.That(target, Is.Null);
            Assert.That(plan.HasAlternative(), Is.False);
            Assert.That(plan.Unavailable(), Is.Null);
        });
    }

    [Test]
    public void TryNext_SameAffinity_SameKeyAndDestinationInEveryPlan()
    {
        var a = Channel("a", keys: 3, urls: 3);
        var keys = new HashSet<string>();
        var urls = new HashSet<Uri>();
        for (var affinity = 0UL; affinity < 60; affinity++)
        {
            var first = Triple(Next(Plan(affinity, a)));
            for (var again = 0; again < 3; again++)
            {
                Assert.That(Triple(Next(Plan(affinity, a))), Is.EqualTo(first), $"affinity {affinity}");
            }

            keys.Add(first.Key);
            urls.Add(first.BaseUrl);
        }

        Assert.Multiple(() =>
        {
            Assert.That(keys, Has.Count.EqualTo(3), "conversations spread over the keys");
            Assert.That(urls, Has.Count.EqualTo(3), "conversations spread over the destinations");
        });
    }

    [Test]
    public void TryNext_NoAffinity_KeysRotateRoundRobinAcrossPlans()
    {
        var a = Channel("a", keys: 3, urls: 1);
        var order = Enumerable.Range(0, 7).Select(_ => a.ApiKeys.ToList().IndexOf(Next(Plan(a)).Key)).ToArray();
        Assert.That(order, Is.EqualTo(new[] { 0, 1, 2, 0, 1, 2, 0 }));
    }

    [TestCase(FailureKind.KeyRejected, 0)]
    [TestCase(FailureKind.RateLimited, 0)]
    [TestCase(FailureKind.RateLimited, 30)]
    public void TryNext_AfterKeyFailure_SameChannelDifferentKey(FailureKind failure, int retryAfterSeconds)
    {
        var plan = Plan(Channel("a"), Channel("b"));
        var first = Next(plan);
        plan.Report(first, Failed(failure, retryAfterSeconds));

        var second = Next(plan);
        Assert.Multiple(() =>
        {
            Assert.That(second.Channel.Name, Is.EqualTo("a"));
            Assert.That(second.Key.Fingerprint, Is.Not.EqualTo(first.Key.Fingerprint));
            Assert.That(second.Attempt, Is.EqualTo(2));
        });
    }

    [TestCase(FailureKind.Unreachable)]
    [TestCase(FailureKind.HeadersTimeout)]
    public void TryNext_AfterDestinationFailure_SameChannelAndKeyDifferentDestination(FailureKind failure)
    {
        var plan = Plan(Channel("a"), Channel("b"));
        var first = Next(plan);
        plan.Report(first, AttemptReport.Failed(failure));

        var second = Next(plan);
        Assert.Multiple(() =>
        {
            Assert.That(second.Channel.Name, Is.EqualTo("a"));
            Assert.That(second.Key, Is.SameAs(first.Key));
            Assert.That(second.BaseUrl, Is.Not.EqualTo(first.BaseUrl));
        });
    }

    [TestCase(FailureKind.ServerError)]
    [TestCase(FailureKind.Overloaded)]
    [TestCase(FailureKind.BadAnswer)]
    [TestCase(FailureKind.StreamFailed)]
    [TestCase(FailureKind.FirstContentTimeout)]
    [TestCase(FailureKind.IdleTimeout)]
    public void TryNext_AfterChannelFailure_NextChannel(FailureKind failure)
    {
        var plan = Plan(Channel("a"), Channel("b"), Channel("c"));
        plan.Report(Next(plan), AttemptReport.Failed(failure));
        Assert.That(Next(plan).Channel.Name, Is.EqualTo("b"));
    }

    [TestCase(FailureKind.KeyRejected, 1, 2)]
    [TestCase(FailureKind.RateLimited, 1, 2)]
    [TestCase(FailureKind.Unreachable, 2, 1)]
    [TestCase(FailureKind.HeadersTimeout, 2, 1)]
    public void TryNext_PreferredMoveImpossible_NextChannel(FailureKind failure, int keys, int urls)
    {
        var plan = Plan(Channel("a", keys, urls), Channel("b"));
        plan.Report(Next(plan), AttemptReport.Failed(failure));
        Assert.That(Next(plan).Channel.Name, Is.EqualTo("b"));
    }

    [Test]
    public void TryNext_NoNextChannel_AnyUntriedPairThenFalse()
    {
        var plan = Plan(Channel("a", keys: 1, urls: 2), Channel("b", keys: 1, urls: 1));
        var first = Next(plan);
        plan.Report(first, AttemptReport.Failed(FailureKind.ServerError));
        var second = Next(plan);
        plan.Report(second, AttemptReport.Failed(FailureKind.ServerError));
        var third = Next(plan);
        plan.Report(third, AttemptReport.Failed(FailureKind.ServerError));

        Assert.Multiple(() =>
        {
            Assert.That(first.Channel.Name, Is.EqualTo("a"));
            Assert.That(second.Channel.Name, Is.EqualTo("b"));
            Assert.That(third.Channel.Name, Is.EqualTo("a"), "back to the untried destination of a");
            Assert.That(third.BaseUrl, Is.Not.EqualTo(first.BaseUrl));
            Assert.That(plan.TryNext(out _), Is.False);
        });
    }

    [Test]
    public void TryNext_KeyFailureOnLastChannel_FallsBackToEarlierChannel()
    {
        var plan = Plan(Channel("a", keys: 1, urls: 2), Channel("b", keys: 1, urls: 1));
        var first = Next(plan);
        plan.Report(first, AttemptReport.Failed(FailureKind.ServerError));
        plan.Report(Next(plan), AttemptReport.Failed(FailureKind.KeyRejected)); // b's only key refused

        var third = Next(plan);
        Assert.Multiple(() =>
        {
            Assert.That(third.Channel.Name, Is.EqualTo("a"));
            Assert.That(third.BaseUrl, Is.Not.EqualTo(first.BaseUrl));
        });
    }

    [TestCase(FailureKind.RateLimited)]
    [TestCase(FailureKind.Unreachable)]
    public void TryNext_WhatFailedInThisRequest_NotTriedAgainWithAnotherPartner(FailureKind failure)
    {
        _health = new UpstreamHealth(Lenient, _time);
        var plan = Plan(Channel("a", keys: 2, urls: 2));
        var first = Next(plan);
        plan.Report(first, AttemptReport.Failed(failure));

        var rest = new List<UpstreamTarget>();
        while (plan.TryNext(out var target))
        {
            rest.Add(target);
            plan.Report(target, AttemptReport.Failed(FailureKind.ServerError));
        }

        Assert.That(rest, Is.Not.Empty);
        if (failure == FailureKind.RateLimited)
        {
            Assert.That(rest.Select(t => t.Key.Fingerprint), Has.None.EqualTo(first.Key.Fingerprint), "a key that answered 429 is not retried in this request");
        }
        else
        {
            Assert.That(rest.Select(t => t.BaseUrl), Has.None.EqualTo(first.BaseUrl), "an unreachable destination is not retried in this request");
        }
    }

    [TestCaseSource(nameof(AllFailures))]
    public void TryNext_EveryAttemptFails_NeverTheSameTargetTwice(FailureKind failure)
    {
        var plan = Plan(Channel("a"), Channel("b"));
        var seen = new List<(string, string, Uri)>();
        for (var i = 0; i < 20 && plan.TryNext(out var target); i++)
        {
            seen.Add(Triple(target));
            plan.Report(target, AttemptReport.Failed(failure));
        }

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.Unique);
            Assert.That(seen, Has.Count.InRange(1, 8));
            Assert.That(plan.TryNext(out _), Is.False);
            Assert.That(plan.HasAlternative(), Is.False);
        });
    }

    [Test]
    public void TryNext_EverythingTried_FalseAfterEveryPairOnce()
    {
        _health = new UpstreamHealth(Lenient, _time);
        var plan = Plan(Channel("a"), Channel("b", keys: 3, urls: 1));
        var seen = new List<(string, string, Uri)>();
        while (plan.TryNext(out var target))
        {
            Assert.That(target.Attempt, Is.EqualTo(seen.Count + 1));
            seen.Add(Triple(target));
            plan.Report(target, AttemptReport.Failed(FailureKind.ServerError));
            Assert.That(seen, Has.Count.LessThanOrEqualTo(7), "a plan must end");
        }

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.Unique);
            Assert.That(seen, Has.Count.EqualTo(2 * 2 + 3 * 1));
            Assert.That(plan.Attempts, Is.EqualTo(7));
        });
    }

    [Test]
    public void TryNext_KeyRefusedInEarlierPlan_SkippedWhileCoolingThenProbed()
    {
        var a = Channel("a", keys: 2, urls: 1);
        const ulong Affinity = 42;
        var refused = Next(Plan(Affinity, a));
        var plan = Plan(Affinity, a);
        plan.Report(Next(plan), AttemptReport.Failed(FailureKind.KeyRejected));

        Assert.That(Next(Plan(Affinity, a)).Key, Is.Not.SameAs(refused.Key), "left out while cooling down");
        _time.Advance(Options.KeyRejectedCooldown - TimeSpan.FromTicks(1));
        Assert.That(Next(Plan(Affinity, a)).Key, Is.Not.SameAs(refused.Key), "still cooling down");

        _time.Advance(TimeSpan.FromTicks(1));
        var probePlan = Plan(Affinity, a);
        var probe = Next(probePlan);
        Assert.Multiple(() =>
        {
            Assert.That(probe.Key, Is.SameAs(refused.Key), "back after KeyRejectedCooldown");
            Assert.That(probe.IsProbe, Is.True);
            Assert.That(Next(Plan(Affinity, a)).Key, Is.Not.SameAs(refused.Key), "one probe at a time");
        });

        probePlan.Report(probe, AttemptReport.Success);
        var healed = Next(Plan(Affinity, a));
        Assert.Multiple(() =>
        {
            Assert.That(healed.Key, Is.SameAs(refused.Key));
            Assert.That(healed.IsProbe, Is.False);
        });
    }

    [Test]
    public void TryNext_ProbeOfRefusedKeyRefusedAgain_LeftOutTwiceAsLong()
    {
        var a = Channel("a", keys: 1, urls: 1);
        var plan = Plan(a);
        plan.Report(Next(plan), AttemptReport.Failed(FailureKind.KeyRejected));
        _time.Advance(Options.KeyRejectedCooldown);

        var probePlan = Plan(a);
        var probe = Next(probePlan);
        Assert.That(probe.IsProbe, Is.True);
        probePlan.Report(probe, AttemptReport.Failed(FailureKind.KeyRejected));

        var later = Plan(a);
        Assert.Multiple(() =>
        {
            Assert.That(later.TryNext(out _), Is.False);
            Assert.That(later.Unavailable(), Is.EqualTo(new RouteUnavailable(Now + 2 * Options.KeyRejectedCooldown, FailureKind.KeyRejected, "a")));
        });
    }

    [Test]
    public void TryNext_DestinationUnreachableRepeatedly_LaterPlansAvoidIt()
    {
        var a = Channel("a", keys: 1, urls: 2);
        const ulong Affinity = 7;
        var bad = Next(Plan(Affinity, a)).BaseUrl;
        for (var i = 0; i < Options.ConsecutiveFailures; i++)
        {
            var plan = Plan(Affinity, a);
            var first = Next(plan);
            Assert.That(first.BaseUrl, Is.EqualTo(bad));
            plan.Report(first, AttemptReport.Failed(FailureKind.Unreachable));
            plan.Report(Next(plan), AttemptReport.Success);
        }

        Assert.That(Next(Plan(Affinity, a)).BaseUrl, Is.Not.EqualTo(bad), "the destination's breaker is open");
    }

    [Test]
    public void TryNext_ChannelBreakerOpen_Skipped()
    {
        var a = Channel("a");
        var b = Channel("b");
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded));

        var plan = Plan(a, b);
        Assert.Multiple(() =>
        {
            Assert.That(Next(plan).Channel, Is.SameAs(b));
            Assert.That(Plan(a).TryNext(out _), Is.False, "a alone: nothing to try");
        });
    }

    [Test]
    public void TryNext_AllCandidatesOpen_FalseAndUnavailableGivesSoonestRetry()
    {
        _health = new UpstreamHealth(Options with { MaxCooldown = TimeSpan.FromMinutes(5) }, _time);
        var a = Channel("a", keys: 2, urls: 1);
        var b = Channel("b", keys: 1, urls: 1);
        var plan = Plan(a, b);
        plan.Report(Next(plan), AttemptReport.Failed(FailureKind.RateLimited, TimeSpan.FromSeconds(30)));
        plan.Report(Next(plan), AttemptReport.Failed(FailureKind.RateLimited, TimeSpan.FromSeconds(30)));
        var last = Next(plan);
        Assert.That(last.Channel, Is.SameAs(b), "both of a's keys are rate limited");
        plan.Report(last, AttemptReport.Failed(FailureKind.Overloaded, TimeSpan.FromSeconds(60)));

        var expected = new RouteUnavailable(Now + TimeSpan.FromSeconds(30), FailureKind.RateLimited, "a");
        var fresh = Plan(a, b);
        Assert.Multiple(() =>
        {
            Assert.That(plan.TryNext(out _), Is.False);
            Assert.That(plan.HasAlternative(), Is.False);
            Assert.That(plan.Unavailable(), Is.EqualTo(expected));
            Assert.That(fresh.TryNext(out _), Is.False, "a new request finds nothing either");
            Assert.That(fresh.Unavailable(), Is.EqualTo(expected));
            Assert.That(Plan(b).Unavailable(), Is.EqualTo(new RouteUnavailable(Now + TimeSpan.FromSeconds(60), FailureKind.Overloaded, "b")));
        });

        _time.Advance(TimeSpan.FromSeconds(30));
        var retry = Next(Plan(a, b));
        Assert.Multiple(() =>
        {
            Assert.That(retry.Channel, Is.SameAs(a));
            Assert.That(retry.IsProbe, Is.True);
        });
    }

    [Test]
    public void TryNext_Forced_UsesChannelEvenWhenOpen()
    {
        var a = Channel("a", keys: 1, urls: 1);
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded));
        _health.Apply(new SharedCooldown("a", a.ApiKeys[0].Fingerprint, Now + TimeSpan.FromMinutes(5), FailureKind.KeyRejected));
        Assert.That(Plan(a).TryNext(out _), Is.False, "not forced: skipped");

        var forced = new RoutePlan(_health, [a], affinity: null, forced: true);
        Assert.Multiple(() =>
        {
            Assert.That(forced.HasAlternative(), Is.True);
            Assert.That(forced.TryNext(out var target), Is.True);
            Assert.That(target!.Channel, Is.SameAs(a));
            Assert.That(target.IsProbe, Is.False);
            Assert.That(forced.TryNext(out _), Is.False, "still one pair, tried once");
        });
    }

    [Test]
    public void HasAlternative_UntriedUsablePair_TrueOtherwiseFalse()
    {
        var a = Channel("a", keys: 1, urls: 1);
        var b = Channel("b", keys: 1, urls: 1);
        var plan = Plan(a, b);
        Assert.That(plan.HasAlternative(), Is.True);
        Next(plan);
        Assert.That(plan.HasAlternative(), Is.True, "b is untried");
        Next(plan);
        Assert.That(plan.HasAlternative(), Is.False);

        var other = Plan(a, b);
        Next(other);
        _health.Apply(new SharedCooldown("b", null, Now + TimeSpan.FromSeconds(30), FailureKind.Overloaded));
        Assert.Multiple(() =>
        {
            Assert.That(other.HasAlternative(), Is.False, "b is untried but open");
            Assert.That(other.TryNext(out _), Is.False);
        });
    }

    [Test]
    public void Report_SuccessOnProbe_ClosesBreaker()
    {
        var a = Channel("a", keys: 1, urls: 1);
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(10), FailureKind.Overloaded));
        _time.Advance(TimeSpan.FromSeconds(10));

        var plan = Plan(a);
        var probe = Next(plan);
        Assert.That(probe.IsProbe, Is.True);
        plan.Report(probe, AttemptReport.Success);

        Assert.Multiple(() =>
        {
            Assert.That(_health.Report(a).Channel.State, Is.EqualTo(BreakerState.Closed));
            Assert.That(Next(Plan(a)).IsProbe, Is.False);
            Assert.That(Next(Plan(a)).IsProbe, Is.False);
        });
    }

    [Test]
    public void Report_FailureOnProbe_ReopensForTwiceTheBaseCooldown()
    {
        var a = Channel("a", keys: 1, urls: 1);
        for (var i = 0; i < Options.ConsecutiveFailures; i++)
        {
            var failing = Plan(a);
            failing.Report(Next(failing), AttemptReport.Failed(FailureKind.ServerError));
        }

        Assert.That(Plan(a).TryNext(out _), Is.False, "the channel's breaker opened");
        _time.Advance(Options.BaseCooldown);
        var plan = Plan(a);
        var probe = Next(plan);
        Assert.That(probe.IsProbe, Is.True);
        plan.Report(probe, AttemptReport.Failed(FailureKind.BadAnswer));

        Assert.That(Plan(a).Unavailable(), Is.EqualTo(new RouteUnavailable(Now + 2 * Options.BaseCooldown, FailureKind.BadAnswer, "a")));
    }

    [Test]
    public void Report_AbandonedProbe_NextRequestProbes()
    {
        var a = Channel("a", keys: 1, urls: 1);
        _health.Apply(new SharedCooldown("a", null, Now + TimeSpan.FromSeconds(10), FailureKind.Overloaded));
        _time.Advance(TimeSpan.FromSeconds(10));

        var plan = Plan(a);
        var probe = Next(plan);
        Assert.That(probe.IsProbe, Is.True);
        var waiting = Plan(a);
        Assert.Multiple(() =>
        {
            Assert.That(waiting.TryNext(out _), Is.False, "the probe is out");
            Assert.That(waiting.Unavailable()!.RetryAt, Is.EqualTo(Now + Options.ProbeTimeout));
        });

        plan.Report(probe, AttemptReport.Abandoned);
        var next = Next(Plan(a));
        Assert.Multiple(() =>
        {
            Assert.That(next.IsProbe, Is.True);
            Assert.That(_health.Report(a).Channel.WindowAttempts, Is.Zero, "an abandoned attempt is not counted");
        });
    }

    [Test]
    public void Report_Twice_CountsOnce()
    {
        var a = Channel("a", keys: 1, urls: 1);
        var plan = Plan(a);
        var target = Next(plan);
        plan.Report(target, AttemptReport.Failed(FailureKind.ServerError));
        plan.Report(target, AttemptReport.Failed(FailureKind.ServerError));
        plan.Report(target, AttemptReport.Success);

        var report = _health.Report(a).Channel;
        Assert.Multiple(() =>
        {
            Assert.That(report.WindowAttempts, Is.EqualTo(1));
            Assert.That(report.WindowFailures, Is.EqualTo(1));
            Assert.That(report.ConsecutiveFailures, Is.EqualTo(1));
        });
    }

    [Test]
    public void Report_KeyRejectedTwice_CooldownNotDoubled()
    {
        var a = Channel("a", keys: 1, urls: 1);
        var plan = Plan(a);
        var target = Next(plan);
        plan.Report(target, AttemptReport.Failed(FailureKind.KeyRejected));
        plan.Report(target, AttemptReport.Failed(FailureKind.KeyRejected));

        Assert.That(Plan(a).Unavailable(), Is.EqualTo(new RouteUnavailable(Now + Options.KeyRejectedCooldown, FailureKind.KeyRejected, "a")));
    }
}
