using CcxProxy.Transforms.Vocabulary;
using NUnit.Framework;

namespace CcxProxy.Transforms.Tests.Vocabulary;

/// <summary>The one failover policy the relay, the route plan and the breakers read.</summary>
[TestFixture]
public sealed class FailoverPolicyTests
{
    [TestCase(401, FailureKind.KeyRejected, true)]
    [TestCase(403, FailureKind.KeyRejected, true)]
    [TestCase(429, FailureKind.RateLimited, true)]
    [TestCase(500, FailureKind.ServerError, true)]
    [TestCase(502, FailureKind.ServerError, true)]
    [TestCase(503, FailureKind.Overloaded, true)]
    [TestCase(529, FailureKind.Overloaded, true)]
    [TestCase(504, FailureKind.ServerError, false)]
    [TestCase(501, FailureKind.ServerError, false)]
    [TestCase(400, FailureKind.None, false)]
    [TestCase(404, FailureKind.None, false)]
    [TestCase(413, FailureKind.None, false)]
    public void Status_ClassifiedAndFailedOverOrPassedOn(int status, FailureKind kind, bool failsOver)
    {
        Assert.That(FailoverPolicy.Classify(status), Is.EqualTo(kind));
        Assert.That(FailoverPolicy.FailsOver(status), Is.EqualTo(failsOver));
    }

    [TestCase(FailureKind.KeyRejected, FailureBlame.Key)]
    [TestCase(FailureKind.RateLimited, FailureBlame.Key)]
    [TestCase(FailureKind.Unreachable, FailureBlame.Destination)]
    [TestCase(FailureKind.HeadersTimeout, FailureBlame.Destination)]
    [TestCase(FailureKind.Overloaded, FailureBlame.Channel)]
    [TestCase(FailureKind.ServerError, FailureBlame.Channel)]
    [TestCase(FailureKind.BadAnswer, FailureBlame.Channel)]
    [TestCase(FailureKind.StreamFailed, FailureBlame.Channel)]
    [TestCase(FailureKind.FirstContentTimeout, FailureBlame.Channel)]
    [TestCase(FailureKind.IdleTimeout, FailureBlame.Channel)]
    public void Failure_BlamesWhatTheNextAttemptChanges(FailureKind failure, FailureBlame blame)
        => Assert.That(FailoverPolicy.Blame(failure), Is.EqualTo(blame));
}
