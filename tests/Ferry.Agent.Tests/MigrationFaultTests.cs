using System.Diagnostics;
using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Grpc.Core;

namespace Ferry.Agent.Tests;

/// <summary>
/// Agents and hosts failing while a migration is in flight: the VMMs carry it on (or back) by
/// themselves, and the agents, restarted, settle what happened without losing or doubling the VM.
/// </summary>
[Collection(AgentCollection.Name)]
public sealed class MigrationFaultTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 2);

    public void Dispose() => _cluster.Dispose();

    /// <summary>
    /// 64 MiB checked by memverify, left unchanged (idle mode): at 50 Mbit/s the copy takes about
    /// 11 s, time enough to break things in the middle of it.
    /// </summary>
    private void StartMemverify(string name)
    {
        _cluster.StartGuest("h1", name, "memverify", "--mb 64 --mode idle --period-ms 300", cpus: 1);
        _cluster.WaitForConsole("h1", name, "memverify OK");
    }

    private string Console(string host, string name) => _cluster.Console(host, name);

    /// <summary>`ferry --host h1 vm migrate NAME --to h2` started in the background, once its VMM is sending.</summary>
    private Process StartMigration(string name, string mode)
    {
        var start = new ProcessStartInfo(_cluster.FerryBinary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--host", "h1", "vm", "migrate", name, "--to", "h2", "--mode", mode, "--bandwidth", "50Mbit" }) start.ArgumentList.Add(a);
        start.Environment["FERRY_CONFIG"] = _cluster.ConfigPath;
        var p = Process.Start(start)!;
        var progress = new List<string>();
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (progress) progress.Add(e.Data); };
        p.BeginErrorReadLine();
        // Progress lines come every 200 ms: a few with bytes moved mean the copy is under way.
        WaitFor(() => { lock (progress) return progress.Count(l => l.Contains(" MiB of ", StringComparison.Ordinal)) >= 3; },
            $"the migration never got going ({(p.HasExited ? $"vm migrate exited {p.ExitCode}" : "vm migrate still running")}): {string.Join('\n', progress)}", 60);
        return p;
    }

    private Vm Get(string host, string name)
    {
        using var agent = _cluster.Connect(host);
        return agent.Client.GetVm(new VmRef { Name = name });
    }

    private static void WaitFor(Func<bool> condition, string failure, int seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Xunit.Sdk.XunitException(failure);
            Thread.Sleep(250);
        }
    }

    [KvmFact]
    public void Both_agents_killed_mid_migration_and_restarted_settle_it_the_vm_runs_once_at_the_destination()
    {
        StartMemverify("app");
        using var migrate = StartMigration("app", "precopy");

        // Both agents die while the VMMs copy; the user's command loses its agent.
        _cluster.KillAgent("h1");
        _cluster.KillAgent("h2");
        Assert.True(migrate.WaitForExit(TimeSpan.FromSeconds(60)), "vm migrate did not notice its agent had gone");
        Assert.NotEqual(0, migrate.ExitCode);

        // The VMMs finish by themselves; the restarted agents find out what became of the VM.
        _cluster.Start("h1");
        _cluster.Start("h2");
        WaitFor(() => Get("h1", "app").State == "migrated", $"h1 never settled the migration: {Get("h1", "app")}", 120);
        var there = Get("h2", "app");
        Assert.Equal("running", there.State);
        Assert.Equal(_cluster.AddressOf("h2"), Get("h1", "app").MigratedTo);
        // h2 recorded it as its own running VM (not a receive in progress): a VM it runs.
        WaitFor(() => File.ReadAllText(Path.Combine(_cluster.StateDir("h2"), "vms", "app", "vm.json")).Contains("\"intent\": \"running\"", StringComparison.Ordinal)
                      || File.ReadAllText(Path.Combine(_cluster.StateDir("h2"), "vms", "app", "vm.json")).Contains("\"intent\":\"running\"", StringComparison.Ordinal),
            "h2 never recorded the VM as running", 30);

        // Its memory is whole there, and it is never started again at the source.
        int offset = Console("h2", "app").Length;
        WaitFor(() => Console("h2", "app")[offset..].Contains("memverify OK", StringComparison.Ordinal), "memverify stopped at h2", 60);
        Assert.DoesNotContain("memverify FAIL", Console("h2", "app"));
        using var h1 = _cluster.Connect("h1");
        var again = Assert.Throws<RpcException>(() => h1.Client.StartVm(new VmRef { Name = "app" }));
        Assert.Contains("was migrated to", again.Status.Detail);
    }

    [KvmFact]
    public void A_destination_host_killed_mid_migration_leaves_the_vm_running_at_the_source()
    {
        StartMemverify("kept");
        int before = _cluster.VmmPid("h1", "kept");
        using var migrate = StartMigration("kept", "precopy");

        // Everything of h2 dies at once: its agent and the VMM receiving the VM.
        int receiver = _cluster.VmmPid("h2", "kept");
        _cluster.KillAgent("h2");
        Process.GetProcessById(receiver).Kill();

        Assert.True(migrate.WaitForExit(TimeSpan.FromSeconds(90)), "vm migrate did not end");
        Assert.NotEqual(0, migrate.ExitCode);
        WaitFor(() => Get("h1", "kept").State == "running", $"the VM does not run at h1: {Get("h1", "kept")}", 60);
        Assert.Equal(before, Get("h1", "kept").Pid);
        int offset = Console("h1", "kept").Length;
        WaitFor(() => Console("h1", "kept")[offset..].Contains("memverify OK", StringComparison.Ordinal), "memverify stopped at h1", 60);
        Assert.DoesNotContain("memverify FAIL", Console("h1", "kept"));

        // h1 can move it again later: nothing was left half-done.
        Assert.Equal(0, _cluster.Ferry("--host", "h1", "vm", "stop", "kept").Code);
    }
}
