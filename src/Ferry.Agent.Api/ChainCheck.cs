using System.Security.Cryptography.X509Certificates;

namespace Ferry.Agent.Api;

/// <summary>
/// Whether a peer's certificate was issued by the cluster's CA, and for the use it is put to.
/// The system's trust store plays no part: a certificate from any public CA is refused.
/// </summary>
public static class ChainCheck
{
    public const string ServerAuth = "1.3.6.1.5.5.7.3.1", ClientAuth = "1.3.6.1.5.5.7.3.2";

    public static bool IssuedBy(X509Certificate2 ca, X509Certificate2 certificate, string usage)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(usage));
        return chain.Build(certificate);
    }
}
