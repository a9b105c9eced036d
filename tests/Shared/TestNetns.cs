using System.Diagnostics;

namespace Ferry.Tests.Shared;

/// <summary>
/// A network namespace a test creates (`ip netns add`) and always deletes (Dispose): taps the
/// test moves into it, and the traffic it makes there, stay off the host's own network.
/// Needs root, as these tests run.
/// </summary>
public sealed class TestNetns : IDisposable
{
    private static int _counter;

    public TestNetns()
    {
        Name = $"ferry-t{Environment.ProcessId:x}-{Interlocked.Increment(ref _counter)}";
        Run("ip", "netns", "add", Name);
    }

    public string Name { get; }

    /// <summary>An interface name no one else uses: at most 15 characters.</summary>
    public static string UniqueInterfaceName(string prefix) =>
        $"{prefix}{Environment.ProcessId % 0x10000:x}{Interlocked.Increment(ref _counter):x}";

    /// <summary>Moves interface <paramref name="ifname"/> from the host's namespace into this one.</summary>
    public void MoveIn(string ifname) => Run("ip", "link", "set", ifname, "netns", Name);

    /// <summary>Runs a command inside the namespace; returns its output, throws if it fails.</summary>
    public string Exec(params string[] command) => Run(["ip", "netns", "exec", Name, .. command]);

    public void Dispose()
    {
        try { Run("ip", "netns", "del", Name); }
        catch (InvalidOperationException) { } // already gone
    }

    public static string Run(params string[] command)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{string.Join(' ', command)}: exit {p.ExitCode}: {error.Trim()}");
        return output;
    }
}
