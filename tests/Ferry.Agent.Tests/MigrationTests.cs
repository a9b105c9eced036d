using Ferry.Agent.Api;
using Ferry.Agent.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Grpc.Core;

namespace Ferry.Agent.Tests;

/// <summary>Migrations agent to agent: the source agent prepares the destination, the VMMs move the VM, both agents record it.</summary>
[Collection(AgentCollection.Name)]
public sealed partial class MigrationTests : IDisposable
{
    private readonly TestCluster _cluster = new(hosts: 2);

    public void Dispose() => _cluster.Dispose();

    private void StartMemverify(string name)
    {
        _cluster.StartGuest("h1", name, "memverify", "--mb 64 --mode rewrite");
        _cluster.WaitForConsole("h1", name, "memverify OK");
    }

    private int WaitForConsole(string host, string name, string text, int from) => _cluster.WaitForConsole(host, name, text, from);

    // Cold is the same call with another mode (the VMM-level cold tests cover cold itself).
    [KvmTheory]
    [InlineData("precopy")]
    [InlineData("postcopy")]
    public void A_vm_moves_between_agents_with_its_memory_intact(string mode)
    {
        StartMemverify("app");
        var source = new VmmProcess(_cluster.VmmPid("h1", "app"));
        string sourceMemory = source.Cgroup("memory");
        Assert.NotEqual(0, source.Uid); // jailed, as the agents' defaults have it
        var moved = _cluster.Ferry("--host", "h1", "vm", "migrate", "app", "--to", "h2", "--mode", mode, "--verify-memory");
        Assert.True(moved.Code == 0, $"{moved.Stdout}\n{moved.Stderr}");
        Assert.Contains("agent set-up until the source VMM was told to send", moved.Stderr);

        // The destination runs it and its checker goes on finding every page as it left it.
        int after = WaitForConsole("h2", "app", "memverify OK", from: 0);
        WaitForConsole("h2", "app", "memverify OK", from: after);
        using var h1 = _cluster.Connect("h1");
        using var h2 = _cluster.Connect("h2");
        var there = h2.Client.GetVm(new VmRef { Name = "app" });
        Assert.Equal("running", there.State);
        // The receiving VMM was jailed the same way; the source's groups went with its VMM.
        var destination = new VmmProcess(there.Pid);
        Assert.NotEqual(0, destination.Uid);
        Assert.NotEqual(new VmmProcess(Environment.ProcessId).MountNamespace, destination.MountNamespace);
        Assert.Equal("2", destination.Seccomp);
        Assert.EndsWith("-app", destination.Cgroup("memory"));
        for (int i = 0; i < 50 && Directory.Exists(sourceMemory); i++) Thread.Sleep(100);
        Assert.False(Directory.Exists(sourceMemory), $"{sourceMemory} is left after the VM moved out");
        var here = h1.Client.GetVm(new VmRef { Name = "app" });
        Assert.Equal("migrated", here.State);
        Assert.Equal(_cluster.AddressOf("h2"), here.MigratedTo);
        // Never started twice: the source agent refuses to start what now runs elsewhere.
        var again = Assert.Throws<RpcException>(() => h1.Client.StartVm(new VmRef { Name = "app" }));
        Assert.Contains("was migrated to", again.Status.Detail);
    }

    [KvmFact]
    public void A_destination_that_cannot_be_reached_leaves_the_vm_running_at_the_source()
    {
        StartMemverify("kept");
        int before = _cluster.VmmPid("h1", "kept");
        var failed = _cluster.Ferry("--host", "h1", "vm", "migrate", "kept", "--to", $"127.0.0.1:{TestCluster.FreePort()}");
        Assert.NotEqual(0, failed.Code);
        Assert.Contains("cannot reach", failed.Stderr);
        using var h1 = _cluster.Connect("h1");
        var vm = h1.Client.GetVm(new VmRef { Name = "kept" });
        Assert.Equal("running", vm.State);
        Assert.Equal(before, vm.Pid);
    }

    [KvmFact]
    public void The_destination_refuses_a_name_it_already_runs()
    {
        StartMemverify("dup");
        var created = _cluster.Ferry("--host", "h2", "vm", "create", "dup", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd,
            "--memory", "64M", "--cmdline", TestCluster.GuestCmdline("memtouch", "--mb 1 --rate 10"));
        Assert.Equal(0, created.Code);
        Assert.Equal(0, _cluster.Ferry("--host", "h2", "vm", "start", "dup").Code);
        var refused = _cluster.Ferry("--host", "h1", "vm", "migrate", "dup", "--to", "h2");
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("the destination agent: a VM named dup already exists on this host", refused.Stderr);
        using var h1 = _cluster.Connect("h1");
        Assert.Equal("running", h1.Client.GetVm(new VmRef { Name = "dup" }).State);
    }

    [KvmFact]
    public void A_source_vmm_that_refuses_the_migration_leaves_no_receiver_waiting_at_the_destination()
    {
        StartMemverify("refused");
        // The agents prepare the destination, then the source VMM refuses the option.
        var failed = _cluster.Ferry("--host", "h1", "vm", "migrate", "refused", "--to", "h2", "--on-no-converge", "sometimes");
        Assert.NotEqual(0, failed.Code);
        Assert.Contains("sometimes", failed.Stderr);
        using var h1 = _cluster.Connect("h1");
        Assert.Equal("running", h1.Client.GetVm(new VmRef { Name = "refused" }).State);

        // The receiver prepared for it was ended: nothing holds the name at h2, and the move, asked right, goes through.
        using var h2 = _cluster.Connect("h2");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        Vm there;
        while ((there = h2.Client.GetVm(new VmRef { Name = "refused" })).Pid != 0 && DateTime.UtcNow < deadline) Thread.Sleep(100);
        Assert.Equal(0, there.Pid);
        Assert.Equal("defined", there.State);
        var moved = _cluster.Ferry("--host", "h1", "vm", "migrate", "refused", "--to", "h2");
        Assert.True(moved.Code == 0, moved.Stderr);
    }
}
