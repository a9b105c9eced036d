using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Ferry.Agent.Api;
using Ferry.Tests.Shared;

namespace Ferry.Agent.Tests.Infrastructure;

/// <summary>
/// Agents on loopback, each with its own state directory, sharing one CA made for the test, and
/// a client configuration naming them h1..hN. Dispose kills every VMM the agents started and
/// every agent, and removes the directory.
/// </summary>
public sealed class TestCluster : IDisposable
{
    private readonly Dictionary<string, Process> _agents = [];

    public string Root { get; } = Directory.CreateTempSubdirectory("ferry-agents-").FullName;
    public string ConfigPath => Path.Combine(Root, "config.json");
    public string CaDirectory => Path.Combine(Root, "ca");
    public IReadOnlyList<string> Hosts { get; }

    public TestCluster(int hosts)
    {
        Hosts = [.. Enumerable.Range(1, hosts).Select(i => $"h{i}")];
        string ferry = FerryExecutable();
        foreach (string host in Hosts)
        {
            var (code, output) = RunFerryd("init", "--state-dir", StateDir(host), "--name", host, "--listen", $"127.0.0.1:{FreePort()}",
                "--ca", CaDirectory, "--client-config", ConfigPath, "--ferry", ferry);
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

    /// <summary>
    /// FERRY_BIN, as ./test.sh sets it, else a script running the CLI project's own build output
    /// (not the copy in this folder: the agent's ASP.NET framework assemblies beside it would
    /// shadow the versions ferry.deps.json names).
    /// </summary>
    /// <summary>The ferry a user of this cluster runs (set FERRY_CONFIG to <see cref="ConfigPath"/>).</summary>
    public string FerryBinary => FerryExecutable();

    private string FerryExecutable()
    {
        if (Environment.GetEnvironmentVariable("FERRY_BIN") is { Length: > 0 } bin) return bin;
        string script = Path.Combine(Root, "ferry");
        if (!File.Exists(script))
        {
            string dll = Path.Combine(TestGuest.RepositoryRoot, "artifacts", "bin", "Ferry.Cli", "debug", "ferry.dll");
            File.WriteAllText(script, $"#!/bin/sh\nexec dotnet {dll} \"$@\"\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return script;
    }

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

    public static string GuestCmdline(string program, string args) => TestGuest.Run(program, args, powerOff: false);
}
