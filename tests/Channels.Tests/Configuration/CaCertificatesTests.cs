using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using CcxProxy.TestSupport;
using NUnit.Framework;

namespace CcxProxy.Channels.Tests;

/// <summary><c>caCertificates</c>: extra CAs a channel trusts (never a way to turn validation off).</summary>
[TestFixture]
public sealed class CaCertificatesTests
{
    private TempDirectory _dir = null!;
    private TestCertificateAuthority _ca = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = new TempDirectory();
        _ca = TestCertificateAuthority.Create();
    }

    [TearDown]
    public void TearDown()
    {
        _ca.Dispose();
        _dir.Dispose();
    }

    private ChannelParseResult Parse(string caField) => ChannelFileParser.Parse("c.json", Encoding.UTF8.GetBytes(
        $$"""{"type":"anthropic","baseUrl":"https://vllm.internal.example","apiKeys":["k"],"caCertificates": {{caField}} }"""), _ => null, _dir.Path);

    [Test]
    public void AbsoluteAndRelativePaths_LoadedAsPem()
    {
        File.Copy(_ca.PemPath, _dir["company-ca.pem"]);

        var result = Parse($"""["{_ca.PemPath}", "company-ca.pem"]""");

        Assert.That(result.Errors, Is.Empty);
        var channel = result.Channel!;
        Assert.That(channel.CaCertificateFiles, Is.EqualTo(new[] { _ca.PemPath, _dir["company-ca.pem"] }));
        var loaded = new X509Certificate2Collection();
        loaded.ImportFromPem(channel.CaCertificatesPem);
        Assert.That(loaded.Select(c => c.Thumbprint), Is.EqualTo(new[] { _ca.Certificate.Thumbprint, _ca.Certificate.Thumbprint }));
        Assert.That(result.ReferencedFiles, Is.EqualTo(channel.CaCertificateFiles));
    }

    [Test]
    public void Absent_NoExtraTrust()
    {
        var channel = ChannelFileParser.Parse("c.json", """{"type":"anthropic","baseUrl":"https://a.example","apiKeys":["k"]}"""u8, _ => null).Channel!;

        Assert.That(channel.CaCertificateFiles, Is.Empty);
        Assert.That(channel.CaCertificatesPem, Is.Null);
    }

    [Test]
    public void BadEntries_EachRejectedNamingFieldAndFile()
    {
        _dir.Write("not-pem.pem", "hello");
        _dir.Write("key.pem", File.ReadAllText(_ca.PemPath) + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");

        var result = Parse("""["missing.pem", "not-pem.pem", "key.pem", "", 7]""");

        Assert.That(result.IsValid, Is.False);
        var errors = result.Errors.ToDictionary(e => e.Field, e => e.Message);
        Assert.That(errors["caCertificates[0]"], Does.Contain("cannot read").And.Contain("missing.pem"));
        Assert.That(errors["caCertificates[1]"], Does.Contain("no PEM certificate"));
        Assert.That(errors["caCertificates[2]"], Does.Contain("private key"));
        Assert.That(errors["caCertificates[3]"], Does.Contain("path"));
        Assert.That(errors["caCertificates[4]"], Does.Contain("expected a string"));
        Assert.That(result.ReferencedFiles, Has.Count.EqualTo(3), "files that could not be read are still watched");
    }

    [Test]
    public void NoSwitchTurnsValidationOff()
    {
        Assert.That(ChannelFileParser.TopLevelFields.Where(f => f.Contains("insecure", StringComparison.OrdinalIgnoreCase)
            || f.Contains("verify", StringComparison.OrdinalIgnoreCase) || f.Contains("dangerous", StringComparison.OrdinalIgnoreCase)
            || f.Contains("skip", StringComparison.OrdinalIgnoreCase)), Is.Empty);
    }

    [Test]
    public void Validate_ChainToTheChannelsCa_Accepted_NameMismatchOrOtherCa_Refused()
    {
        using var server = _ca.IssueServerCertificate("localhost");
        using var otherCa = TestCertificateAuthority.Create("other CA");
        using var stranger = otherCa.IssueServerCertificate("localhost");
        var roots = new X509Certificate2Collection(X509CertificateLoader.LoadCertificate(_ca.Certificate.RawData));

        Assert.Multiple(() =>
        {
            Assert.That(CertificateTrust.Validate(server, null, SslPolicyErrors.None, roots), Is.Null);
            Assert.That(CertificateTrust.Validate(server, null, SslPolicyErrors.RemoteCertificateChainErrors, roots), Is.Null);
            Assert.That(CertificateTrust.Validate(stranger, null, SslPolicyErrors.RemoteCertificateChainErrors, roots), Does.Contain("not trusted"));
            Assert.That(CertificateTrust.Validate(server, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors, roots),
                Does.Contain("RemoteCertificateNameMismatch"));
            Assert.That(CertificateTrust.Validate(null, null, SslPolicyErrors.RemoteCertificateNotAvailable, roots), Is.Not.Null);
        });
    }
}
