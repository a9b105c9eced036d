using System.Net;

namespace Ferry.Migration.Transport;

/// <summary>ADDR:PORT as users write it (IPv4, [IPv6] or a host name).</summary>
public static class TcpEndpoint
{
    public static bool TryParse(string text, out string host, out int port)
    {
        host = "";
        port = 0;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out port) || port is < 1 or > 65535) return false;
        host = text[..colon].Trim('[', ']');
        return host.Length > 0;
    }

    /// <summary>True when every address the host names is a loopback address.</summary>
    public static bool IsLoopback(string host)
    {
        if (host == "localhost") return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }
}
