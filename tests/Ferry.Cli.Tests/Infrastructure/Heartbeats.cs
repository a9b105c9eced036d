using System.Text.RegularExpressions;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests.Infrastructure;

/// <summary>memtouch's "HB seq ns pages" lines from a console.</summary>
public static partial class Heartbeats
{
    [GeneratedRegex(@"^HB (\d+) (\d+) (\d+)$")]
    private static partial Regex Line();

    public static List<(long Seq, long Ns)> In(ConsoleLines console) =>
        [.. console.Lines.Select(l => Line().Match(l.Text)).Where(m => m.Success)
            .Select(m => (long.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value)))];

    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
