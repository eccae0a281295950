using CcxProxy.Channels.Health;
using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

[TestFixture]
public sealed class CircuitBreakerTests
{
    private static readonly DateTimeOffset T0 = HealthTestData.Start;
    private static readonly BreakerOptions Options = HealthTestData.Options;
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);

    private static CircuitBreaker Breaker() => new(Options);

    // The default: failures from at least two callers open a breaker.
    private static readonly BreakerOptions TwoCallers = Options with { MinimumCallers = 2 };

    private static void Fail(CircuitBreaker breaker, DateTimeOffset now, int times = 1, FailureKind failure = FailureKind.ServerError)
    {
        for (var i = 0; i < times; i++)
        {
            breaker.OnFailure(now, breaker.TryEnter(now), failure);
        }
    }

    private static void Succeed(CircuitBreaker breaker, DateTimeOffset now) => breaker.OnSuccess(now, breaker.TryEnter(now));

    /// <summary>A breaker tripped at <see cref="T0"/> by consecutive failures (open until T0 + BaseCooldown).</summary>
    private static CircuitBreaker Tripped()
    {
        var breaker = Breaker();
        Fail(breaker, T0, Options.ConsecutiveFailures);
        return breaker;
    }

    [Test]
    public void TryEnter_Closed_Allowed()
    {
        var breaker = Breaker();
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.IsAvailable(T0), Is.True);
            Assert.That(breaker.AvailableAt(T0), Is.EqualTo(T0));
            Assert.That(breaker.OpenReason, Is.Null);
        });
    }

    [Test]
    public void OnFailure_ConsecutiveFailuresInARow_OpensOnlyAtThreshold()
    {
        var breaker = Breaker();
        Fail(breaker, T0, Options.ConsecutiveFailures - 1);
        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed), "one failure short of the threshold");

        breaker.OnFailure(T0, BreakerPermit.Allowed, FailureKind.ServerError);
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.IsAvailable(T0), Is.False);
            Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.ServerError));
            Assert.That(breaker.AvailableAt(T0), Is.EqualTo(T0 + Options.BaseCooldown));
        });
    }

    [Test]
    public void OnSuccess_BetweenFailures_ResetsConsecutiveCount()
    {
        var breaker = new CircuitBreaker(Options with { MinimumAttempts = 1_000 }); // the ratio alone would open it
        for (var round = 0; round < 4; round++)
        {
            Fail(breaker, T0, Options.ConsecutiveFailures - 1);
            Succeed(breaker, T0);
        }

        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.Report(T0).ConsecutiveFailures, Is.Zero);
        });
    }

    [Test]
    public void OnFailure_HalfOfMinimumAttemptsFailedInterleaved_OpensByRatio()
    {
        var breaker = Breaker();
        for (var i = 0; i < 4; i++)
        {
            Succeed(breaker, T0);
            Fail(breaker, T0);
        }

        Succeed(breaker, T0);
        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed), "9 attempts: below MinimumAttempts");

        breaker.OnFailure(T0, BreakerPermit.Allowed, FailureKind.BadAnswer);
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Denied), "10 attempts, 5 failed: ratio 0.5 reached");
            Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.BadAnswer));
        });
    }

    [Test]
    public void OnFailure_FewerThanMinimumAttempts_NeverOpensByRatio()
    {
        var breaker = Breaker();

        // F S F S F S F S F: 5 of 9 failed (over the ratio), never 3 in a row.
        for (var i = 0; i < 4; i++)
        {
            Fail(breaker, T0);
            Succeed(breaker, T0);
        }

        Fail(breaker, T0);
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.Report(T0).WindowAttempts, Is.EqualTo(9));
            Assert.That(breaker.Report(T0).WindowFailures, Is.EqualTo(5));
        });
    }

    [Test]
    public void OnFailure_FailuresOlderThanWindow_NoLongerCount()
    {
        var breaker = Breaker();
        for (var i = 0; i < 4; i++)
        {
            Succeed(breaker, T0);
            Fail(breaker, T0);
        }

        var later = T0 + Options.Window;
        Succeed(breaker, later);
        Fail(breaker, later);

        // Counted together these would be 10 attempts with 5 failures; only the last 2 are in the window.
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(later), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.Report(later).WindowAttempts, Is.EqualTo(2));
            Assert.That(breaker.Report(later).WindowFailures, Is.EqualTo(1));
        });
    }

    [Test]
    public void TryEnter_Open_DeniedUntilBaseCooldownThenExactlyOneProbe()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(reopen - Tick), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.IsAvailable(reopen - Tick), Is.False);
            Assert.That(breaker.IsAvailable(reopen), Is.True);
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Probe));
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Denied), "the one probe is out");
            Assert.That(breaker.IsAvailable(reopen), Is.False);
            Assert.That(breaker.TryEnter(reopen + Options.ProbeTimeout - Tick), Is.EqualTo(BreakerPermit.Denied));
        });
    }

    [Test]
    public void OnSuccess_Probe_ClosesBreaker()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        breaker.OnSuccess(reopen, breaker.TryEnter(reopen));

        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.OpenReason, Is.Null);
            Assert.That(breaker.Report(reopen).State, Is.EqualTo(BreakerState.Closed));
        });
    }

    [Test]
    public void OnSuccess_NotTheProbe_DoesNotCloseHalfOpenBreaker()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Probe));

        // A request let through before the breaker opened finishes well: the probe still decides.
        breaker.OnSuccess(reopen, BreakerPermit.Allowed);
        Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Denied));
    }

    [Test]
    public void OnFailure_ProbeFailsRepeatedly_CooldownDoublesUpToMaxCooldown()
    {
        var breaker = Tripped();
        var now = T0 + Options.BaseCooldown;
        var expected = new[] { 10, 20, 30, 30 }.Select(s => TimeSpan.FromSeconds(s)).ToArray();
        foreach (var cooldown in expected)
        {
            var permit = breaker.TryEnter(now);
            Assert.That(permit, Is.EqualTo(BreakerPermit.Probe));
            breaker.OnFailure(now, permit, FailureKind.Overloaded);
            Assert.Multiple(() =>
            {
                Assert.That(breaker.Report(now).OpenUntil, Is.EqualTo(now + cooldown));
                Assert.That(breaker.TryEnter(now + cooldown - Tick), Is.EqualTo(BreakerPermit.Denied));
            });
            now += cooldown;
        }
    }

    [Test]
    public void Trip_AfterProbeClosedBreaker_StartsAgainAtBaseCooldown()
    {
        var breaker = Tripped();
        var now = T0 + Options.BaseCooldown;
        breaker.OnFailure(now, breaker.TryEnter(now), FailureKind.ServerError); // reopened for 2 x base
        now += 2 * Options.BaseCooldown;
        breaker.OnSuccess(now, breaker.TryEnter(now));
        Assert.That(breaker.TryEnter(now), Is.EqualTo(BreakerPermit.Allowed));

        now += Options.Window; // a fresh window, so only the failures in a row decide
        Fail(breaker, now, Options.ConsecutiveFailures);
        Assert.That(breaker.Report(now).OpenUntil, Is.EqualTo(now + Options.BaseCooldown));
    }

    [Test]
    public void OnAbandoned_Probe_AnotherProbeGoesAtOnce()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        var probe = breaker.TryEnter(reopen);
        Assert.That(probe, Is.EqualTo(BreakerPermit.Probe));

        breaker.OnAbandoned(probe);
        Assert.Multiple(() =>
        {
            Assert.That(breaker.IsAvailable(reopen), Is.True);
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Probe));
            Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Denied));
        });
    }

    [Test]
    public void OnAbandoned_NotTheProbe_KeepsProbeOut()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Probe));

        breaker.OnAbandoned(BreakerPermit.Allowed);
        Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Denied));
    }

    [Test]
    public void TryEnter_ProbeNeverReports_ReplacedAfterProbeTimeout()
    {
        var breaker = Tripped();
        var reopen = T0 + Options.BaseCooldown;
        Assert.That(breaker.TryEnter(reopen), Is.EqualTo(BreakerPermit.Probe));

        var lost = reopen + Options.ProbeTimeout;
        Assert.Multiple(() =>
        {
            Assert.That(breaker.AvailableAt(reopen), Is.EqualTo(lost));
            Assert.That(breaker.TryEnter(lost - Tick), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.TryEnter(lost), Is.EqualTo(BreakerPermit.Probe));
            Assert.That(breaker.TryEnter(lost), Is.EqualTo(BreakerPermit.Denied));
        });
    }

    [Test]
    public void CoolDown_Until_OpenUntilExactlyThenProbe()
    {
        var breaker = Breaker();
        var until = T0 + TimeSpan.FromSeconds(17);
        var returned = breaker.CoolDown(T0, until, FailureKind.RateLimited);

        Assert.Multiple(() =>
        {
            Assert.That(returned, Is.EqualTo(until));
            Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.RateLimited));
            Assert.That(breaker.AvailableAt(T0), Is.EqualTo(until));
            Assert.That(breaker.TryEnter(until - Tick), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.TryEnter(until), Is.EqualTo(BreakerPermit.Probe));
            Assert.That(breaker.TryEnter(until), Is.EqualTo(BreakerPermit.Denied));
        });
    }

    [Test]
    public void CoolDown_BeyondMaxCooldown_CappedAtMaxCooldown()
    {
        var breaker = Breaker();
        var returned = breaker.CoolDown(T0, T0 + TimeSpan.FromHours(1), FailureKind.Overloaded);

        Assert.Multiple(() =>
        {
            Assert.That(returned, Is.EqualTo(T0 + Options.MaxCooldown));
            Assert.That(breaker.TryEnter(T0 + Options.MaxCooldown), Is.EqualTo(BreakerPermit.Probe));
        });
    }

    [Test]
    public void CoolDown_ShorterThanRunningOpenPeriod_DoesNotShortenIt()
    {
        var breaker = Breaker();
        var longer = T0 + TimeSpan.FromSeconds(20);
        breaker.CoolDown(T0, longer, FailureKind.Overloaded);

        var returned = breaker.CoolDown(T0 + TimeSpan.FromSeconds(1), T0 + TimeSpan.FromSeconds(5), FailureKind.RateLimited);
        Assert.Multiple(() =>
        {
            Assert.That(returned, Is.EqualTo(longer));
            Assert.That(breaker.TryEnter(T0 + TimeSpan.FromSeconds(10)), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.Overloaded));
        });
    }

    [Test]
    public void CoolDown_LongerThanRunningOpenPeriod_ExtendsIt()
    {
        var breaker = Breaker();
        breaker.CoolDown(T0, T0 + TimeSpan.FromSeconds(5), FailureKind.RateLimited);
        var returned = breaker.CoolDown(T0, T0 + TimeSpan.FromSeconds(25), FailureKind.RateLimited);

        Assert.Multiple(() =>
        {
            Assert.That(returned, Is.EqualTo(T0 + TimeSpan.FromSeconds(25)));
            Assert.That(breaker.TryEnter(T0 + TimeSpan.FromSeconds(10)), Is.EqualTo(BreakerPermit.Denied));
        });
    }

    [Test]
    public void Reject_RepeatedlyRefused_CooldownDoublesUpToMaxKeyRejectedCooldown()
    {
        var breaker = Breaker();
        var now = T0;
        var expected = new[] { 5, 10, 20, 30, 30 }.Select(m => TimeSpan.FromMinutes(m)).ToArray();
        foreach (var cooldown in expected)
        {
            var until = breaker.Reject(now)!.Value;
            Assert.Multiple(() =>
            {
                Assert.That(until, Is.EqualTo(now + cooldown));
                Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.KeyRejected));
                Assert.That(breaker.TryEnter(until - Tick), Is.EqualTo(BreakerPermit.Denied));
            });

            now = until;
            Assert.That(breaker.TryEnter(now), Is.EqualTo(BreakerPermit.Probe), "the probe that is refused again");
        }
    }

    [Test]
    public void Reject_ProbeSucceeds_KeyEnabledAndNextRefusalStartsOver()
    {
        var breaker = Breaker();
        var now = breaker.Reject(T0)!.Value;
        Assert.That(breaker.TryEnter(now), Is.EqualTo(BreakerPermit.Probe));
        now = breaker.Reject(now)!.Value; // the probe is refused too: 10 min
        var probe = breaker.TryEnter(now);
        Assert.That(probe, Is.EqualTo(BreakerPermit.Probe));
        breaker.OnSuccess(now, probe);

        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(now), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.Reject(now), Is.EqualTo(now + Options.KeyRejectedCooldown));
        });
    }

    [Test]
    public void Apply_UntilInFuture_OpensUntilThen()
    {
        var breaker = Breaker();
        var until = T0 + TimeSpan.FromSeconds(42);
        breaker.Apply(T0, until, FailureKind.RateLimited);

        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(until - Tick), Is.EqualTo(BreakerPermit.Denied));
            Assert.That(breaker.OpenReason, Is.EqualTo(FailureKind.RateLimited));
            Assert.That(breaker.Report(T0).OpenUntil, Is.EqualTo(until));
            Assert.That(breaker.Report(T0).WindowAttempts, Is.Zero, "another replica's attempt is not counted here");
            Assert.That(breaker.TryEnter(until), Is.EqualTo(BreakerPermit.Probe));
        });
    }

    [Test]
    public void Apply_UntilInPast_DoesNothing()
    {
        var breaker = Breaker();
        breaker.Apply(T0, T0 - TimeSpan.FromSeconds(1), FailureKind.RateLimited);
        breaker.Apply(T0, T0, FailureKind.RateLimited);

        Assert.Multiple(() =>
        {
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
            Assert.That(breaker.Report(T0).State, Is.EqualTo(BreakerState.Closed));
            Assert.That(breaker.OpenReason, Is.Null);
        });
    }

    [Test]
    public void Report_Closed_CountsAttemptsFailuresAndErrorClasses()
    {
        var breaker = Breaker();
        Fail(breaker, T0, failure: FailureKind.RateLimited);
        Succeed(breaker, T0);
        Fail(breaker, T0, failure: FailureKind.RateLimited);
        Fail(breaker, T0 + TimeSpan.FromSeconds(1), failure: FailureKind.HeadersTimeout);

        var report = breaker.Report(T0 + TimeSpan.FromSeconds(2));
        Assert.Multiple(() =>
        {
            Assert.That(report.State, Is.EqualTo(BreakerState.Closed));
            Assert.That(report.OpenUntil, Is.Null);
            Assert.That(report.Reason, Is.Null);
            Assert.That(report.ConsecutiveFailures, Is.EqualTo(2));
            Assert.That(report.WindowAttempts, Is.EqualTo(4));
            Assert.That(report.WindowFailures, Is.EqualTo(3));
            Assert.That(report.RecentErrors, Is.EquivalentTo(new Dictionary<string, int> { ["rate_limited"] = 2, ["headers_timeout"] = 1 }));
            Assert.That(report.LastFailure, Is.EqualTo(FailureKind.HeadersTimeout));
            Assert.That(report.LastFailureAt, Is.EqualTo(T0 + TimeSpan.FromSeconds(1)));
        });
    }

    [Test]
    public void Report_OpenThenHalfOpen_ShowsStateUntilAndReason()
    {
        var breaker = Breaker();
        Fail(breaker, T0, Options.ConsecutiveFailures, FailureKind.StreamFailed);

        var open = breaker.Report(T0);
        var halfOpen = breaker.Report(T0 + Options.BaseCooldown);
        Assert.Multiple(() =>
        {
            Assert.That(open.State, Is.EqualTo(BreakerState.Open));
            Assert.That(open.OpenUntil, Is.EqualTo(T0 + Options.BaseCooldown));
            Assert.That(open.Reason, Is.EqualTo(FailureKind.StreamFailed));
            Assert.That(open.ConsecutiveFailures, Is.EqualTo(Options.ConsecutiveFailures));
            Assert.That(open.RecentErrors, Is.EquivalentTo(new Dictionary<string, int> { ["stream_failed"] = 3 }));

            Assert.That(halfOpen.State, Is.EqualTo(BreakerState.HalfOpen), "the cooldown is over: the next attempt probes");
            Assert.That(halfOpen.OpenUntil, Is.Null);
            Assert.That(halfOpen.Reason, Is.EqualTo(FailureKind.StreamFailed));
        });
    }

    [Test]
    public void Report_AfterWindow_RecentErrorsDropOut()
    {
        var breaker = Breaker();
        Fail(breaker, T0, failure: FailureKind.RateLimited);
        Fail(breaker, T0, failure: FailureKind.Unreachable);

        var report = breaker.Report(T0 + Options.Window);
        Assert.Multiple(() =>
        {
            Assert.That(report.RecentErrors, Is.Empty);
            Assert.That(report.WindowAttempts, Is.Zero);
            Assert.That(report.WindowFailures, Is.Zero);
            Assert.That(report.LastFailure, Is.EqualTo(FailureKind.Unreachable), "the last failure is kept however old");
        });
    }

    [Test]
    public void TryEnter_EightThreadsOnHalfOpenBreaker_ExactlyOneProbe()
    {
        const int Threads = 8;
        const int Rounds = 200;
        var reopen = T0 + Options.BaseCooldown;
        var breakers = Enumerable.Range(0, Rounds).Select(_ => Tripped()).ToArray();
        var permits = new BreakerPermit[Rounds, Threads];

        // The same 8 threads race on a fresh half-open breaker each round, released together by the barrier.
        using var barrier = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (var round = 0; round < Rounds; round++)
            {
                if (!barrier.SignalAndWait(TimeSpan.FromSeconds(5)))
                {
                    return;
                }

                permits[round, t] = breakers[round].TryEnter(reopen);
            }
        })
        { IsBackground = true }).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }

        Assert.That(threads.All(t => t.Join(TimeSpan.FromSeconds(10))), Is.True, "threads finished");
        for (var round = 0; round < Rounds; round++)
        {
            var granted = Enumerable.Range(0, Threads).Select(t => permits[round, t]).ToArray();
            Assert.That(granted.Count(p => p == BreakerPermit.Probe), Is.EqualTo(1), $"round {round}");
            Assert.That(granted.Count(p => p == BreakerPermit.Denied), Is.EqualTo(Threads - 1), $"round {round}");
        }
    }

    [Test]
    public void Validate_OutOfRange_Throws()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => new BreakerOptions { ConsecutiveFailures = 0 }.Validate(), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new BreakerOptions { FailureRatio = 0 }.Validate(), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new BreakerOptions { FailureRatio = 1.5 }.Validate(), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new BreakerOptions { BaseCooldown = TimeSpan.Zero }.Validate(), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new BreakerOptions().Validate(), Throws.Nothing);
            Assert.That(() => Options.Validate(), Throws.Nothing);
        });
    }

    [Test]
    public void ProbeSuccess_ClosesWithAFreshWindow_OneLaterFailureDoesNotReopen()
    {
        var breaker = Breaker();
        for (var i = 0; i < 5; i++)
        {
            Succeed(breaker, T0);
            Fail(breaker, T0);
        }

        Assert.That(breaker.IsAvailable(T0), Is.False, "opened by the failure ratio");
        var later = T0 + Options.BaseCooldown;
        breaker.OnSuccess(later, breaker.TryEnter(later));

        Fail(breaker, later);

        Assert.Multiple(() =>
        {
            Assert.That(breaker.IsAvailable(later), Is.True, "the failures from before the close must not count again");
            Assert.That(breaker.Report(later).WindowAttempts, Is.EqualTo(1));
        });
    }

    [Test]
    public void Reject_WhileAlreadyLeftOut_DoesNotLengthenTheCooldown()
    {
        var breaker = Breaker();
        var first = breaker.Reject(T0);
        var second = breaker.Reject(T0 + TimeSpan.FromSeconds(1));
        var third = breaker.Reject(T0 + TimeSpan.FromSeconds(2));

        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo(T0 + Options.KeyRejectedCooldown));
            Assert.That(second, Is.EqualTo(first), "requests already under way when the key was refused");
            Assert.That(third, Is.EqualTo(first));
        });
    }

    [Test]
    public void OnFailure_OneCallerOnly_NeverOpens_NeitherInARowNorByRatio()
    {
        var breaker = new CircuitBreaker(TwoCallers);

        for (var i = 0; i < Options.MinimumAttempts * 3; i++)
        {
            breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "key-1@10.0.0.7");
        }

        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));
        Assert.That(breaker.OpenReason, Is.Null);
    }

    [Test]
    public void OnFailure_SecondCallerJoinsTheStreak_OpensAtTheThreshold()
    {
        var breaker = new CircuitBreaker(TwoCallers);
        for (var i = 0; i < Options.ConsecutiveFailures - 1; i++)
        {
            breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "key-1@10.0.0.7");
        }

        breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "key-2@10.0.0.8");

        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Denied));
    }

    [Test]
    public void OnFailure_SuccessBetween_StreakCallersStartAfresh()
    {
        var breaker = new CircuitBreaker(TwoCallers);
        breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "other@10.0.0.8");
        Succeed(breaker, T0);

        for (var i = 0; i < Options.ConsecutiveFailures; i++)
        {
            breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "key-1@10.0.0.7");
        }

        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed), "the other caller's failure was before a success");
    }

    [Test]
    public void OnFailure_MinimumCallersOne_AnyonesFailuresOpen()
    {
        var breaker = new CircuitBreaker(Options with { MinimumCallers = 1 });

        for (var i = 0; i < Options.ConsecutiveFailures; i++)
        {
            breaker.OnFailure(T0, breaker.TryEnter(T0), FailureKind.ServerError, "key-1@10.0.0.7");
        }

        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Denied));
    }

    [Test]
    public void OnFailure_RatioWithTwoCallersAcrossTheWindow_Opens()
    {
        var breaker = new CircuitBreaker(TwoCallers with { ConsecutiveFailures = 1000 });
        for (var i = 0; i < Options.MinimumAttempts; i++)
        {
            var at = T0 + TimeSpan.FromTicks(Options.Window.Ticks / 20 * i);
            if (i % 2 == 0)
            {
                Succeed(breaker, at);
            }
            else
            {
                breaker.OnFailure(at, breaker.TryEnter(at), FailureKind.ServerError, i < 5 ? "key-1@a" : "key-2@b");
            }
        }

        var end = T0 + TimeSpan.FromTicks(Options.Window.Ticks / 20 * Options.MinimumAttempts);
        Assert.That(breaker.TryEnter(end), Is.EqualTo(BreakerPermit.Denied));
    }

    [Test]
    public void Reject_OneCallersRefusals_KeyStaysInUse_ASecondCallersRefusalTakesItOut()
    {
        var breaker = new CircuitBreaker(TwoCallers);

        Assert.That(breaker.Reject(T0, "key-1@10.0.0.7"), Is.Null);
        Assert.That(breaker.Reject(T0, "key-1@10.0.0.7"), Is.Null, "a 403 may follow from what one caller sends (a moderation refusal)");
        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Allowed));

        Assert.That(breaker.Reject(T0, "key-2@10.0.0.8"), Is.EqualTo(T0 + Options.KeyRejectedCooldown));
        Assert.That(breaker.TryEnter(T0), Is.EqualTo(BreakerPermit.Denied));
    }
}
