using Ferry.Tests.Shared;

namespace Ferry.Guest.Tests;

/// <summary>
/// The same guest files Ferry boots, booted by QEMU: with KVM (as Ferry here) and with TCG,
/// which has no kvmclock and whose SYSCALL reaches CPL 0 as on hardware, so the guest's other
/// system-call route and its fallback clock are tested too.
/// </summary>
[Collection(QemuCollection.Name)]
public sealed class QemuCrossCheckTests
{
    private const string Workloads =
        "ferry.workload=hello-glibc;hello-musl;threads;threads-musl;badsyscall;fault " +
        "ferry.args=\";;;;;null\" ferry.poweroff=1";

    private static (int Code, string Console) Boot(bool tcg, int cpus, string cmdline, string machine = "microvm")
    {
        var args = new List<string>();
        if (tcg) args.Add("--tcg");
        args.AddRange(["--machine", machine, "--smp", cpus.ToString(), "--mem", "1G", "--timeout", "240", TestGuest.Kernel, TestGuest.Initrd, cmdline]);
        return GuestProcess.Run(Path.Combine(TestGuest.RepositoryRoot, "guest", "kernel", "test-qemu.sh"), TimeSpan.FromSeconds(300), [.. args]);
    }

    private static void AssertWorkloadsRan(int code, string console, int cpus)
    {
        Assert.True(code == 0, $"QEMU exited {code}:\n{console}");
        Assert.Contains($"ferry-guest: ready cpus={cpus} memory=", console);
        Assert.Contains("hello from glibc", console);
        Assert.Contains("hello from musl", console);
        Assert.Matches(@"threads ok n=\d+ cpus-seen=\d+", console);
        Assert.Matches(@"ferry-guest: unsupported syscall \d+", console);
        Assert.Contains("ferry-guest: fault", console);
        Assert.Matches(@"ferry-guest: workload exited status=0 name=hello-glibc", console);
        Assert.Matches(@"ferry-guest: workload exited status=(?!0)\d+ name=fault", console);
        Assert.DoesNotContain("ferry-guest: panic", console);
    }

    [KvmTheory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Under_qemu_with_kvm_every_workload_runs(int cpus)
    {
        var (code, console) = Boot(tcg: false, cpus, Workloads);
        AssertWorkloadsRan(code, console, cpus);
        Assert.Contains("syscall route=gp-trap", console);
    }

    [Fact]
    public void Under_qemu_tcg_the_native_syscall_route_and_the_fallback_clock_work()
    {
        var (code, console) = Boot(tcg: true, 2, Workloads);
        AssertWorkloadsRan(code, console, 2);
        Assert.Contains("syscall route=native", console);
        var clock = Boot(tcg: true, 1, "ferry.workload=clockcheck ferry.args=\"--seconds 2\" ferry.poweroff=1");
        Assert.True(clock.Code == 0, clock.Console);
        Assert.Contains("clockcheck ok", clock.Console);
    }

    [KvmFact]
    public void Under_qemu_pc_acpi_power_off_works()
    {
        var (code, console) = Boot(tcg: false, 1, "ferry.workload=hello-glibc ferry.poweroff=1", machine: "pc");
        Assert.True(code == 0, console);
        Assert.Contains("hello from glibc", console);
    }

    [Fact]
    public void A_kernel_panic_never_looks_like_a_clean_power_off()
    {
        var (_, console) = Boot(tcg: true, 1, "ferry.test-panic=1");
        Assert.Contains("ferry-guest: panic", console);
        Assert.DoesNotContain("workload exited", console);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class QemuCollection
{
    public const string Name = "qemu guests";
}
