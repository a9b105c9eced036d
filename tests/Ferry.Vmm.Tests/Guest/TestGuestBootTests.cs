using Ferry.Tests.Shared;
using Ferry.Vmm.Boot;
using Ferry.Vmm.Memory;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Guest;

[Collection(KvmCollection.Name)]
public sealed class TestGuestBootTests
{
    private const ulong OneGiB = 1UL << 30;

    [KvmTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public async Task Boots_to_the_ready_marker_with_every_vcpu_online(int cpus)
    {
        using var guest = RunningGuest.Start(cpus, OneGiB, TestGuest.Run("hello-glibc", "a b"));
        var ready = guest.WaitFor(@"^ferry-guest: ready cpus=(\d+) memory=(\d+) MiB$");
        Assert.Equal(cpus, int.Parse(ready.Groups[1].Value));
        Assert.Equal(E820Map.UsableMiB(E820Map.For(new GuestMemoryMap(OneGiB))), ulong.Parse(ready.Groups[2].Value));
        guest.WaitFor("hello from glibc");
        guest.WaitFor(@"^ferry-guest: workload exited status=0");
        var exit = await guest.ExitAsync();
        Assert.Equal(VmExitKind.PowerOff, exit.Kind);
    }

    [KvmFact]
    public async Task A_musl_static_program_runs()
    {
        using var guest = RunningGuest.Start(1, OneGiB, TestGuest.Run("hello-musl", "x"));
        guest.WaitFor("hello from musl");
        guest.WaitFor(@"^ferry-guest: workload exited status=0");
        Assert.Equal(VmExitKind.PowerOff, (await guest.ExitAsync()).Kind);
    }

    [KvmTheory]
    [InlineData(4)]
    [InlineData(8)]
    public async Task A_threaded_program_runs_on_every_vcpu(int cpus)
    {
        using var guest = RunningGuest.Start(cpus, OneGiB, TestGuest.Run("threads", $"--threads {cpus} --spin-ms 1000"));
        var ok = guest.WaitFor(@"threads ok n=(\d+) cpus-seen=(\d+)", seconds: 120);
        Assert.Equal(cpus, int.Parse(ok.Groups[2].Value));
        guest.WaitFor(@"^ferry-guest: workload exited status=0");
        Assert.Equal(VmExitKind.PowerOff, (await guest.ExitAsync()).Kind);
    }

    [KvmFact]
    public async Task An_unsupported_syscall_is_reported_and_not_fatal()
    {
        using var guest = RunningGuest.Start(1, OneGiB, TestGuest.Run("badsyscall"));
        guest.WaitFor(@"^ferry-guest: unsupported syscall \d+");
        guest.WaitFor(@"badsyscall returned -1 errno=38");
        guest.WaitFor(@"^ferry-guest: workload exited status=0");
        Assert.Equal(VmExitKind.PowerOff, (await guest.ExitAsync()).Kind);
    }

    [KvmFact]
    public async Task A_faulting_program_is_reported_and_the_guest_carries_on()
    {
        using var guest = RunningGuest.Start(1, OneGiB, TestGuest.Run("fault", "null"));
        guest.WaitFor(@"^ferry-guest: fault");
        var exited = guest.WaitFor(@"^ferry-guest: workload exited status=(\d+)");
        Assert.NotEqual("0", exited.Groups[1].Value);
        Assert.Equal(VmExitKind.PowerOff, (await guest.ExitAsync()).Kind);
    }

    [KvmFact]
    public async Task Memverify_runs_clean_for_15_seconds_in_1_GiB()
    {
        using var guest = RunningGuest.Start(2, OneGiB, TestGuest.Run("memverify", "--mb 512 --seconds 15"));
        guest.WaitFor(@"memverify ready", seconds: 120);
        guest.WaitFor(@"^ferry-guest: workload exited status=(\d+)", seconds: 120);
        Assert.DoesNotContain("memverify BAD", guest.Console.Text);
        Assert.Contains("memverify OK", guest.Console.Text);
        Assert.Matches(@"ferry-guest: workload exited status=0", guest.Console.Text);
        Assert.Equal(VmExitKind.PowerOff, (await guest.ExitAsync()).Kind);
    }
}
