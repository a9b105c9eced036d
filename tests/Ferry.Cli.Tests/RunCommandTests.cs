using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Tests;

[Collection(KvmCollection.Name)]
public sealed class RunCommandTests
{
    private static string[] Guest(string name, string cmdline, string memory = "1G", int cpus = 2) =>
        ["run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", memory, "--cpus", cpus.ToString(),
         "--name", name, "--cmdline", cmdline];

    [KvmFact]
    public void Guest_power_off_ends_ferry_with_exit_code_0()
    {
        var (code, stdout, stderr) = FerryProcess.Run(Guest("poweroff", TestGuest.Run("hello-glibc")));
        Assert.Contains("hello from glibc", stdout);
        Assert.Equal(0, code);
        Assert.Contains("the guest powered off", stderr);
    }

    [KvmFact]
    public void A_guest_that_dies_ends_ferry_with_a_clear_message_and_exit_code_5()
    {
        string kernel = Path.Combine(Path.GetTempPath(), $"ferry-triple-{Environment.ProcessId}.elf");
        File.WriteAllBytes(kernel, BrokenKernels.TripleFault());
        try
        {
            var (code, _, stderr) = FerryProcess.Run("run", "--kernel", kernel, "--memory", "128M", "--name", "dies");
            Assert.Equal((int)ExitCode.GuestDied, code);
            Assert.Contains("triple-faulted", stderr);
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    [KvmFact]
    public void The_demo_pauses_resumes_migrates_and_stops_a_guest()
    {
        var (code, stdout, stderr) = FerryProcess.Run("demo", "--guest-dir", Path.GetDirectoryName(TestGuest.Kernel)!);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("heartbeats while paused: 0", stdout);
        Assert.Contains("live-migrating", stdout);
        Assert.Matches(@"over \d+ rounds, downtime", stdout);
        Assert.Contains("heartbeats continue at the destination", stdout);
        Assert.Contains("Demo complete.", stdout);
    }

    [KvmFact]
    public void A_guest_kernel_panic_is_a_death_not_a_power_off()
    {
        var (code, stdout, stderr) = FerryProcess.Run(Guest("panics", "ferry.test-panic=1"));
        Assert.Contains("ferry-guest: panic", stdout);
        Assert.Equal((int)ExitCode.GuestDied, code);
        Assert.Contains("triple-faulted", stderr);
    }

    [KvmFact]
    public async Task Control_commands_drive_a_running_vm_through_its_socket()
    {
        using var vm = FerryProcess.Start(Guest("ctl", TestGuest.Run("memtouch", "--mb 16 --rate 1000 --hb-ms 10", powerOff: false)));
        vm.WaitFor("memtouch ready");
        string socket = ApiSocketPaths.ForName("ctl");

        var status = FerryProcess.Run("status", "--name", "ctl", "--json");
        Assert.Equal(0, status.Code);
        Assert.Contains("\"state\":\"running\"", status.Stdout);
        Assert.Contains($"\"pid\":{vm.Pid}", status.Stdout);

        var list = FerryProcess.Run("list");
        Assert.Contains("ctl", list.Stdout);

        Assert.Equal(0, FerryProcess.Run("pause", "--api-socket", socket).Code);
        Assert.Contains("\"state\":\"paused\"", FerryProcess.Run("status", "--name", "ctl", "--json").Stdout);
        int atPause = vm.Console.Count;
        await Task.Delay(500);
        Assert.Equal(atPause, vm.Console.Count);

        Assert.Equal(0, FerryProcess.Run("resume", "--name", "ctl").Code);
        vm.WaitFor("^HB ", from: atPause);

        Assert.Equal(0, FerryProcess.Run("stop", "--name", "ctl").Code);
        Assert.Equal(0, vm.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.False(File.Exists(socket), "the API socket outlived its VM");
    }

    [KvmFact]
    public void Control_command_without_a_vm_says_so()
    {
        var r = FerryProcess.Run("pause", "--name", "no-such-vm");
        Assert.Equal((int)ExitCode.ApiFailed, r.Code);
        Assert.Contains("no-such-vm", r.Stderr);
    }

    [KvmFact]
    public void An_idle_16_GiB_guest_stays_small_in_host_memory()
    {
        using var vm = FerryProcess.Start(Guest("big", TestGuest.Run("memtouch", "--mb 16 --rate 0 --hb-ms 100", powerOff: false), memory: "16G"));
        vm.WaitFor(@"^ferry-guest: ready cpus=2 memory=16383 MiB$");
        vm.WaitFor("memtouch ready");
        long rssKiB = File.ReadLines($"/proc/{vm.Pid}/status").Where(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).Single();
        Assert.True(rssKiB < 256 * 1024, $"an idle 16 GiB guest made the VMM {rssKiB / 1024} MiB resident");
    }

    [KvmFact]
    public void Two_vms_run_side_by_side_and_killing_one_leaves_the_other_running()
    {
        using var a = FerryProcess.Start(Guest("side-a", TestGuest.Run("memtouch", "--mb 8 --rate 100 --hb-ms 10", powerOff: false), cpus: 1));
        using var b = FerryProcess.Start(Guest("side-b", TestGuest.Run("memtouch", "--mb 8 --rate 100 --hb-ms 10", powerOff: false), cpus: 1));
        a.WaitFor("memtouch ready");
        b.WaitFor("memtouch ready");
        a.Dispose(); // SIGKILL
        int seen = b.Console.Count;
        b.WaitFor("^HB ", from: seen);
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", "side-b", "--json").Stdout);
        FerryProcess.Run("stop", "--name", "side-b");
    }
}
