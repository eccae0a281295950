using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace CcxProxy.Channels;

/// <summary>
/// The one rule for trusting a TLS server the gateway connects to (a channel's upstream, Redis): the system's
/// verdict, widened only by CA certificates the operator named (a company CA); never narrowed to "accept
/// anything", and a certificate must always name the host.
/// </summary>
public static class CertificateTrust
{
    /// <summary>The certificates of a PEM text.</summary>
    /// <param name="pem">One or more <c>-----BEGIN CERTIFICATE-----</c> blocks.</param>
    /// <returns>The certificates.</returns>
    public static X509Certificate2Collection Load(string pem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        return roots;
    }

    /// <summary>
    /// The system's verdict, except that a chain the system does not trust is accepted when it ends at one of the
    /// operator's own CAs (<paramref name="roots"/>). A certificate that does not name the host, or is missing, is refused whatever its chain.
    /// </summary>
    /// <returns>Null when the certificate is accepted; otherwise why it is not.</returns>
    public static string? Validate(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, X509Certificate2Collection roots)
    {
        if (errors == SslPolicyErrors.None)
        {
            return null;
        }

        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null)
        {
            return errors.ToString();
        }

        using var leaf = new X509Certificate2(certificate);
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        // The same revocation policy as the system check (SocketsHttpHandler's default): none.
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // As the system check demands: a certificate issued for TLS servers, not any certificate of that CA.
        custom.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.1"));
        if (chain is not null)
        {
            // Intermediates the server sent.
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        if (custom.Build(leaf))
        {
            return null;
        }

        var problems = custom.ChainStatus.Select(static status => status.Status.ToString()).Distinct();
        return $"{errors}: not trusted by the system nor by the configured CA certificates ({string.Join(", ", problems)})";
    }
}
