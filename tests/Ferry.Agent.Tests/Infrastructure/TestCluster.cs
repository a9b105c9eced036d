using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ferry.Agent.Api;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests.Infrastructure;

/// <summary>
/// Agents on loopback, each with its own state directory, sharing one CA made for the test, and
/// a client configuration naming them h1..hN. Their VMMs are jailed unless <c>--no-jail</c> is
/// among the init options, as on a host set up with the defaults. Dispose kills every VMM the
/// agents started and every agent, removes the VMs' cgroups and the directory.
/// </summary>
public sealed class TestCluster : IDisposable
{
    private readonly Dictionary<string, Process> _agents = [];

    public string Root { get; } = Directory.CreateTempSubdirectory("ferry-agents-").FullName;
    public string ConfigPath => Path.Combine(Root, "config.json");
    public string CaDirectory => Path.Combine(Root, "ca");
    public IReadOnlyList<string> Hosts { get; }

    public TestCluster(int hosts, params string[] initOptions)
    {
        Hosts = [.. Enumerable.Range(1, hosts).Select(i => $"h{i}")];
        string ferry = FerryExecutable();
        foreach (string host in Hosts)
        {
            var (code, output) = RunFerryd(["init", "--state-dir", StateDir(host), "--name", host, "--listen", $"127.0.0.1:{FreePort()}",
                "--ca", CaDirectory, "--client-config", ConfigPath, "--ferry", ferry, .. initOptions]);
            if (code != 0) throw new InvalidOperationException($"ferryd init failed: {output}");
            Start(host);
        }
    }

    public string StateDir(string host) => Path.Combine(Root, host);
    public string AddressOf(string host) => ClientConfig.Load(ConfigPath).Hosts[host].Address;

    public AgentConnection Connect(string host) => new(AddressOf(host), ClientConfig.Load(ConfigPath).Hosts[host].Credentials);

    /// <summary>Starts (or restarts) the host's agent and waits until it answers.</summary>
    public void Start(string host)
    {
        var p = Process.Start(FerrydStart("serve", "--state-dir", StateDir(host)))!;
        _agents[host] = p;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var agent = Connect(host);
            try
            {
                agent.Client.GetHost(new GetHostRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
                return;
            }
            catch (Grpc.Core.RpcException) when (DateTime.UtcNow < deadline && !p.HasExited) { Thread.Sleep(100); }
            catch (Grpc.Core.RpcException e)
            {
                throw new InvalidOperationException($"ferryd {host} did not come up: {e.Status.Detail}; its output: {p.StandardError.ReadToEnd()}");
            }
        }
    }

    public int AgentPid(string host) => _agents[host].Id;

    /// <summary>Kills the host's agent (SIGKILL, no clean-up of its own); its VMMs run on.</summary>
    public void KillAgent(string host)
    {
        var p = _agents[host];
        p.Kill();
        p.WaitForExit();
    }

    /// <summary>Runs `ferry ARGS` as a user would, with this cluster's client configuration.</summary>
    public (int Code, string Stdout, string Stderr) Ferry(params string[] args)
    {
        var start = new ProcessStartInfo(FerryExecutable()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        start.Environment["FERRY_CONFIG"] = ConfigPath;
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(); throw new Xunit.Sdk.XunitException("ferry did not finish within 3 minutes"); }
        return (p.ExitCode, stdout, stderr.Result);
    }

    public (int Code, string Output) RunFerryd(params string[] args)
    {
        using var p = Process.Start(FerrydStart(args))!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output);
    }

    private static ProcessStartInfo FerrydStart(params string[] args)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (Environment.GetEnvironmentVariable("FERRYD_BIN") is { Length: > 0 } bin) start.FileName = bin;
        else
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ferryd.dll"));
        }
        foreach (string a in args) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>The ferry a user of this cluster runs (set FERRY_CONFIG to <see cref="ConfigPath"/>).</summary>
    public string FerryBinary => FerryExecutable();

    /// <summary>
    /// FERRY_BIN, as ./test.sh sets it, else the NativeAOT binary ./ferry publishes (built once,
    /// then reused while the sources are unchanged): a jail holds one executable, not a runtime.
    /// </summary>
    private static string FerryExecutable() => PublishedFerry.Value;

    private static readonly Lazy<string> PublishedFerry = new(() =>
    {
        if (Environment.GetEnvironmentVariable("FERRY_BIN") is { Length: > 0 } bin) return bin;
        var start = new ProcessStartInfo(Path.Combine(TestGuest.RepositoryRoot, "ferry")) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--version");
        using var p = Process.Start(start)!;
        string log = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"./ferry --version (which publishes ferry) failed: {log}");
        return Path.Combine(TestGuest.RepositoryRoot, "artifacts", "publish", "ferry", "ferry");
    });

    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>The pid a host's agent recorded for a VM's VMM (vms/NAME/vmm.pid).</summary>
    public int VmmPid(string host, string vm) => int.Parse(File.ReadAllText(Path.Combine(StateDir(host), "vms", vm, "vmm.pid")).Trim());

    public void Dispose()
    {
        foreach (var p in _agents.Values)
        {
            try { if (!p.HasExited) p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        // Every jailed VMM: whatever runs in its cgroups is this test's, and the groups go with it;
        // also groups an agent killed here made and had not listed yet (a standby receiver's, mid-start).
        foreach (string list in Directory.EnumerateFiles(Root, "cgroups", SearchOption.AllDirectories))
            RemoveCgroups(File.ReadAllLines(list));
        RemoveCgroups([.. Hosts.SelectMany(AgentCgroups)]);
        // Every VMM an agent started: it was detached on purpose, so it is ended here by its pid.
        foreach (string pidFile in Directory.EnumerateFiles(Root, "vmm.pid", SearchOption.AllDirectories))
        {
            if (!int.TryParse(File.ReadAllText(pidFile).Trim(), out int pid)) continue;
            // Only a process that is still this test's VMM (its command line names this directory), never a reused pid.
            try { if (!File.ReadAllText($"/proc/{pid}/cmdline").Contains(Root, StringComparison.Ordinal)) continue; }
            catch (IOException) { continue; }
            try { using var vmm = Process.GetProcessById(pid); vmm.Kill(); vmm.WaitForExit(10_000); }
            catch (ArgumentException) { /* already gone */ }
            catch (InvalidOperationException) { }
        }
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>The cgroups the host's agent made (Jail/VmCgroup: named "ferryd-" + a hash of its state directory + "-" + the VMM's name).</summary>
    public string CgroupPrefix(string host) => global::Ferry.Agent.Jail.VmmJail.CgroupPrefix(new global::Ferry.Agent.StateDirectory(StateDir(host)).Root);

    public IEnumerable<string> AgentCgroups(string host)
    {
        foreach (string controller in new[] { "memory", "cpu" })
        {
            string root = Path.Combine("/sys/fs/cgroup", controller);
            if (!Directory.Exists(root)) continue;
            foreach (string dir in Directory.EnumerateDirectories(root, CgroupPrefix(host) + "*", SearchOption.AllDirectories)) yield return dir;
        }
    }

    /// <summary>Kills every process in <paramref name="directories"/> (cgroup v1 groups) and removes them.</summary>
    public static void RemoveCgroups(IEnumerable<string> directories)
    {
        foreach (string dir in directories.Where(d => d.StartsWith("/sys/fs/cgroup/", StringComparison.Ordinal) && Directory.Exists(d)))
        {
            for (int attempt = 0; attempt < 100; attempt++)
            {
                string[] pids = File.ReadAllLines(Path.Combine(dir, "cgroup.procs"));
                foreach (string pid in pids)
                {
                    try { using var p = Process.GetProcessById(int.Parse(pid)); p.Kill(); p.WaitForExit(10_000); }
                    catch (ArgumentException) { /* already gone */ }
                    catch (InvalidOperationException) { }
                }
                try { Directory.Delete(dir); break; }
                catch (IOException) { Thread.Sleep(50); } // its last process is still being reaped
            }
        }
    }

    /// <summary>Creates and starts a VM running the test guest's <paramref name="program"/> on <paramref name="host"/>, through the CLI.</summary>
    public void StartGuest(string host, string name, string program, string args, string memory = "256M", int cpus = 2)
    {
        var created = Ferry("--host", host, "vm", "create", name, "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd,
            "--memory", memory, "--cpus", cpus.ToString(System.Globalization.CultureInfo.InvariantCulture), "--cmdline", GuestCmdline(program, args));
        Assert.True(created.Code == 0, created.Stderr);
        var started = Ferry("--host", host, "vm", "start", name);
        Assert.True(started.Code == 0, started.Stderr);
    }

    /// <summary>The guest's console so far, through the host's agent.</summary>
    public string Console(string host, string name) => Ferry("--host", host, "vm", "console", name).Stdout;

    /// <summary>Waits until the console shows <paramref name="text"/> after offset <paramref name="from"/>; returns the offset just past it.</summary>
    public int WaitForConsole(string host, string name, string text, int from = 0, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            string console = Console(host, name);
            int at = console.IndexOf(text, Math.Min(from, console.Length), StringComparison.Ordinal);
            if (at >= 0) return at + text.Length;
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException($"{host}/{name} never printed \"{text}\" after offset {from}:\n{console}");
            Thread.Sleep(250);
        }
    }

    public static string GuestCmdline(string program, string args) => TestGuest.Run(program, args, powerOff: false);
}
