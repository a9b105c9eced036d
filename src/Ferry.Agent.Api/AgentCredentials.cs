using System.Security.Cryptography.X509Certificates;

namespace Ferry.Agent.Api;

/// <summary>
/// What it takes to call an agent: the cluster's CA (the only issuer either side trusts), a
/// certificate and key it signed, and the cluster's bearer token. The CLI reads them from its
/// client configuration; an agent uses its own to call its peers.
/// </summary>
public sealed record AgentCredentials(string CaPath, string CertificatePath, string KeyPath, string TokenPath)
{
    public X509Certificate2 LoadCa() => X509Certificate2.CreateFromPem(ReadFile(CaPath, "CA certificate"));

    public X509Certificate2 LoadCertificate()
    {
        try { return X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new AgentCallException($"cannot load certificate {CertificatePath} with key {KeyPath}: {e.Message}");
        }
    }

    public string LoadToken()
    {
        string token = ReadFile(TokenPath, "token").Trim();
        return token.Length > 0 ? token : throw new AgentCallException($"token file {TokenPath} is empty");
    }

    private static string ReadFile(string path, string what)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgentCallException($"cannot read {what} {path}: {e.Message}");
        }
    }
}

/// <summary>A call to an agent that could not be made or was refused, in one line for the user.</summary>
public sealed class AgentCallException(string message) : Exception(message);
