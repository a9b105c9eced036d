using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Ferry.Migration.Transport;

/// <summary>
/// Mutual TLS for migration streams: each side presents its certificate (PEM, with its key) and
/// accepts the peer only if the peer's certificate chains to the given CA. Host names are not
/// checked (hosts are usually named by IP address here); the CA is the trust anchor.
/// </summary>
public sealed class TlsSettings
{
    private readonly X509Certificate2 _certificate;
    private readonly X509Certificate2 _ca;

    private TlsSettings(X509Certificate2 certificate, X509Certificate2 ca)
    {
        _certificate = certificate;
        _ca = ca;
    }

    /// <summary>Loads the three PEM files; null when none is given. Throws MigrationException naming the file at fault.</summary>
    public static TlsSettings? Load(string? certificatePath, string? keyPath, string? caPath)
    {
        if (certificatePath is null && keyPath is null && caPath is null) return null;
        if (certificatePath is null || keyPath is null || caPath is null)
            throw new MigrationException("TLS needs all three of --tls-cert, --tls-key and --tls-ca");
        X509Certificate2 certificate, ca;
        try { certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        { throw new MigrationException($"cannot load the TLS certificate {certificatePath} with key {keyPath}: {e.Message}"); }
        try { ca = X509CertificateLoader.LoadCertificateFromFile(caPath); }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        { throw new MigrationException($"cannot load the TLS CA certificate {caPath}: {e.Message}"); }
        // SslStream on Linux wants a certificate whose key it can export to OpenSSL; PEM keys are ephemeral.
        certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        return new TlsSettings(certificate, ca);
    }

    public async Task<Stream> ConnectAsync(Stream inner, string host, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                ClientCertificates = [_certificate],
                RemoteCertificateValidationCallback = (_, cert, _, _) => ChainsToCa(cert),
            }, cancellationToken);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync();
            throw new MigrationException($"TLS with {host} failed: {e.Message} (do both sides use certificates from the same --tls-ca?)");
        }
        return ssl;
    }

    public async Task<Stream> AcceptAsync(Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificate = _certificate,
                ClientCertificateRequired = true,
                RemoteCertificateValidationCallback = (_, cert, _, _) => ChainsToCa(cert),
            }, cancellationToken);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await ssl.DisposeAsync();
            throw new MigrationException($"TLS with the source failed: {e.Message} (do both sides use certificates from the same --tls-ca?)");
        }
        return ssl;
    }

    private bool ChainsToCa(X509Certificate? presented)
    {
        if (presented is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var certificate = new X509Certificate2(presented);
        return chain.Build(certificate);
    }
}
