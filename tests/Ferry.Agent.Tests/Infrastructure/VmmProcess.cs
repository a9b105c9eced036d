using System.Diagnostics;

namespace Ferry.Agent.Tests.Infrastructure;

/// <summary>What /proc shows of a VMM the agent started: its user, namespaces, confinement and cgroups.</summary>
public sealed class VmmProcess(int pid)
{
    public int Pid { get; } = pid;

    public int Uid => int.Parse(Status("Uid").Split('\t', StringSplitOptions.RemoveEmptyEntries)[0]);
    public int Gid => int.Parse(Status("Gid").Split('\t', StringSplitOptions.RemoveEmptyEntries)[0]);
    public string Groups => Status("Groups").Trim();
    /// <summary>Every capability set of the process (effective, permitted, inheritable, bounding, ambient), as /proc shows them.</summary>
    public string[] Capabilities => [.. new[] { "CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb" }.Select(set => Status(set).Trim())];
    public string NoNewPrivs => Status("NoNewPrivs").Trim();
    /// <summary>0 none, 2 a filter (--seccomp).</summary>
    public string Seccomp => Status("Seccomp").Trim();
    public string MountNamespace => new FileInfo($"/proc/{Pid}/ns/mnt").LinkTarget!;
    /// <summary>Its parent's pid and its session's id, from /proc/PID/stat.</summary>
    public int ParentPid => StatField(1);
    public int SessionId => StatField(3);
    /// <summary>What its file descriptor <paramref name="fd"/> is open on (a path, or e.g. pipe:[N]).</summary>
    public string Fd(int fd) => new FileInfo($"/proc/{Pid}/fd/{fd}").LinkTarget!;

    /// <summary>The VMM's / as the host reaches it.</summary>
    public string Root => $"/proc/{Pid}/root";

    /// <summary>The VMM's group in a cgroup v1 hierarchy, as a directory under /sys/fs/cgroup.</summary>
    public string Cgroup(string controller)
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/cgroup"))
        {
            string[] parts = line.Split(':', 3);
            if (parts[1].Split(',').Contains(controller)) return $"/sys/fs/cgroup/{controller}{parts[2]}";
        }
        throw new Xunit.Sdk.XunitException($"pid {Pid} is in no {controller} cgroup");
    }

    /// <summary>
    /// Runs the jail's own /ferry ARGS inside the VMM's mount namespace and root, as its user, as
    /// the VMM itself would see the world (nsenter; its seccomp filter aside).
    /// </summary>
    public (int Code, string Output) RunInside(params string[] args)
    {
        var start = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["--target", Pid.ToString(), "--mount", "--root", "--wd=/", "--setuid", Uid.ToString(), "--setgid", Gid.ToString(), "--", "/ferry", .. args])
            start.ArgumentList.Add(a);
        start.Environment["FERRY_RUN_DIR"] = "/run";
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) { p.Kill(); throw new Xunit.Sdk.XunitException("the probe inside the jail did not finish in 30 s"); }
        return (p.ExitCode, output.Trim());
    }

    /// <summary>Field <paramref name="index"/> after the command name of /proc/PID/stat (0: the state).</summary>
    private int StatField(int index) =>
        int.Parse(File.ReadAllText($"/proc/{Pid}/stat").Split(')')[^1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[index]);

    private string Status(string field)
    {
        foreach (string line in File.ReadLines($"/proc/{Pid}/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        throw new Xunit.Sdk.XunitException($"/proc/{Pid}/status has no {field}");
    }
}
