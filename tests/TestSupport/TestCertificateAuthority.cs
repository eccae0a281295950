using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace CcxProxy.TestSupport;

/// <summary>
/// A throwaway certificate authority made at test time, as an internal company CA is: the system does not
/// trust it, so a gateway reaches its servers only when a channel names its PEM file (<see cref="PemPath"/>).
/// Its server certificates name only the hosts asked for (<c>localhost</c>), never <c>127.0.0.1</c>, so a client
/// that presents the wrong name for SNI or the certificate check fails as it would against a real provider.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly string _directory;

    private TestCertificateAuthority(X509Certificate2 certificate, string directory)
    {
        Certificate = certificate;
        _directory = directory;
        PemPath = Path.Combine(directory, "ca.pem");
        File.WriteAllText(PemPath, certificate.ExportCertificatePem() + "\n");
    }

    /// <summary>The CA's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The CA's certificate (no key) as a PEM file in a temporary folder: what a channel's <c>caCertificates</c> names.</summary>
    public string PemPath { get; }

    /// <summary>Creates a CA named <paramref name="name"/>, valid from an hour ago for a day.</summary>
    /// <param name="name">The CA's common name.</param>
    /// <returns>The CA.</returns>
    public static TestCertificateAuthority Create(string name = "ccx test CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));
        return new TestCertificateAuthority(certificate, Directory.CreateTempSubdirectory("ccx-ca-").FullName);
    }

    /// <summary>A server certificate for <paramref name="dnsNames"/> (default <c>localhost</c>), signed by this CA, with its key.</summary>
    /// <param name="dnsNames">The names the certificate holds in its subject alternative names.</param>
    /// <returns>The certificate, usable by Kestrel.</returns>
    public X509Certificate2 IssueServerCertificate(params string[] dnsNames)
    {
        if (dnsNames.Length == 0)
        {
            dnsNames = ["localhost"];
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(Certificate, now.AddMinutes(-30), now.AddHours(12), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // A PKCS#12 round trip gives Kestrel a certificate whose key it can use on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Deletes the PEM file and disposes the CA certificate.</summary>
    public void Dispose()
    {
        Certificate.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
