using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>
/// What every live-migration test between VMM processes needs: a token file, a source VM running
/// a test-guest workload, a receiver, and a wait on `ferry migrate-status`. Removes its files.
/// </summary>
public sealed class LiveMigrationRig : IDisposable
{
    private readonly string _dir;

    public LiveMigrationRig(string prefix)
    {
        _dir = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;
        File.WriteAllText(Token, "live-secret\n");
    }

    public string Token => Path.Combine(_dir, "token");
    public string Directory => _dir;

    public static FerryProcess Source(string name, string workload, string args, string memory = "1G") => FerryProcess.Start(
        "run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", memory, "--cpus", "2", "--name", name,
        "--cmdline", TestGuest.Run(workload, args, powerOff: false));

    public FerryProcess Receiver(string name, int port, params string[] extra) =>
        FerryProcess.Start(["receive", "--listen", $"127.0.0.1:{port}", "--name", name, "--token-file", Token, .. extra]);

    public (int Code, string Stdout, string Stderr) Migrate(string name, int port, string mode, params string[] extra) =>
        FerryProcess.Run(["migrate", "--name", name, "--to", $"127.0.0.1:{port}", "--mode", mode, "--token-file", Token, .. extra]);

    /// <summary>Polls `ferry migrate-status --json` of <paramref name="name"/> until it contains <paramref name="text"/> (60 s at most).</summary>
    public static async Task WaitForStatusAsync(string name, string text)
    {
        for (int i = 0; i < 600; i++)
        {
            var status = FerryProcess.Run("migrate-status", "--name", name, "--json").Stdout;
            if (status.Contains(text)) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"the migration of {name} never reached \"{text}\"");
    }

    /// <summary>A CA and two leaf certificates it signed, as PEM files.</summary>
    public (string Ca, string SrcCert, string SrcKey, string DstCert, string DstKey) MakeCertificates(string prefix = "ferry")
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={prefix}-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var caCert = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        string Write(string file, string pem) { string path = Path.Combine(_dir, $"{prefix}-{file}"); File.WriteAllText(path, pem); return path; }
        string ca = Write("ca.pem", caCert.ExportCertificatePem());
        (string, string) Leaf(string name)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
            using var cert = request.Create(caCert, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));
            return (Write($"{name}.pem", cert.ExportCertificatePem()), Write($"{name}.key", key.ExportPkcs8PrivateKeyPem()));
        }
        var (srcCert, srcKey) = Leaf("source");
        var (dstCert, dstKey) = Leaf("destination");
        return (ca, srcCert, srcKey, dstCert, dstKey);
    }

    public void Dispose() => System.IO.Directory.Delete(_dir, recursive: true);
}
