using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace ZfsSync.Shared;

/// <summary>
/// Verifies the broker's TLS certificate against a CA of the deployment's own (<c>RabbitMq:Tls:CaCertificatePath</c>,
/// PEM) instead of the system trust store: the chain must end at that CA and the name must match. Linked into every
/// program that connects to RabbitMQ.
/// </summary>
internal static class BrokerCertificateValidation
{
    public static RemoteCertificateValidationCallback TrustOnly(string caCertificatePath)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(caCertificatePath);
        if (authorities.Count == 0)
        {
            throw new InvalidOperationException($"RabbitMq:Tls:CaCertificatePath '{caCertificatePath}' holds no PEM certificate");
        }

        return (_, certificate, _, errors) =>
        {
            // A name mismatch or a missing certificate is never accepted; an untrusted root is checked below.
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
            {
                return false;
            }

            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var presented = new X509Certificate2(certificate);
            return chain.Build(presented);
        };
    }
}
