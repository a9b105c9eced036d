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

    /// <summary>
    /// Asserts that the destination's heartbeats continue the source's with none lost or repeated.
    /// The pause may fall inside a heartbeat line: its head is then the source's last console line
    /// and its tail the destination's first, and together they must be the next heartbeat.
    /// </summary>
    public static void AssertContinues(ConsoleLines source, ConsoleLines destination)
    {
        var before = In(source);
        var after = In(destination);
        long next = before[^1].Seq + 1;
        if (after[0].Seq == next)
        {
            Assert.True(after[0].Ns > before[^1].Ns, "the guest clock went backwards across the migration");
            return;
        }
        string joined = source.Lines[^1].Text + destination.Lines[0].Text;
        Assert.True(after[0].Seq == next + 1 && Line().IsMatch(joined) && joined.StartsWith($"HB {next} ", StringComparison.Ordinal),
            $"heartbeats do not continue: source ended at {before[^1].Seq} (last line \"{source.Lines[^1].Text}\"), " +
            $"destination started at {after[0].Seq} (first line \"{destination.Lines[0].Text}\")");
    }

    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
