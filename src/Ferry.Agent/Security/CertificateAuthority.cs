using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Agent.Security;

/// <summary>
/// The cluster's own CA, made by `ferryd init` when no CA directory exists yet: it signs each
/// agent's server certificate and the client certificate that the CLI and the agents present.
/// ECDSA P-256 keys, PEM files readable by their owner only.
/// </summary>
public sealed class CertificateAuthority
{
    public const string CaFile = "ca.pem", CaKeyFile = "ca.key", ClientFile = "client.pem", ClientKeyFile = "client.key", TokenFile = "token";
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly X509Certificate2 _ca;

    private CertificateAuthority(X509Certificate2 ca) => _ca = ca;

    /// <summary>Opens the CA in <paramref name="directory"/>, creating it (with a client certificate and a token) the first time.</summary>
    public static CertificateAuthority OpenOrCreate(string directory)
    {
        Directory.CreateDirectory(directory);
        string caPath = Path.Combine(directory, CaFile), keyPath = Path.Combine(directory, CaKeyFile);
        if (File.Exists(caPath)) return new CertificateAuthority(X509Certificate2.CreateFromPemFile(caPath, keyPath));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=ferry cluster CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        using var ca = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(10));
        StateDirectory.WriteAtomically(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()), Private);
        StateDirectory.WriteAtomically(caPath, System.Text.Encoding.ASCII.GetBytes(ca.ExportCertificatePem()), Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var authority = new CertificateAuthority(X509Certificate2.CreateFromPemFile(caPath, keyPath));
        authority.Issue("ferry client", [], client: true, Path.Combine(directory, ClientFile), Path.Combine(directory, ClientKeyFile));
        StateDirectory.WriteAtomically(Path.Combine(directory, TokenFile), System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n"), Private);
        return authority;
    }

    /// <summary>Signs a new key pair: a server certificate for these names and addresses, or a client certificate.</summary>
    public void Issue(string commonName, IReadOnlyList<string> names, bool client, string certificatePath, string keyPath)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(client ? Api.ChainCheck.ClientAuth : Api.ChainCheck.ServerAuth)], false));
        if (names.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (string name in names)
            {
                if (IPAddress.TryParse(name, out var address)) san.AddIpAddress(address);
                else san.AddDnsName(name);
            }
            request.CertificateExtensions.Add(san.Build());
        }
        var now = DateTimeOffset.UtcNow;
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(_ca, now.AddMinutes(-5), now.AddYears(5), serial);
        StateDirectory.WriteAtomically(keyPath, System.Text.Encoding.ASCII.GetBytes(key.ExportPkcs8PrivateKeyPem()), Private);
        StateDirectory.WriteAtomically(certificatePath, System.Text.Encoding.ASCII.GetBytes(issued.ExportCertificatePem()), Private);
    }
}
