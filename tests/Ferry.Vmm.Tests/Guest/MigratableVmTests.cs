using System.Text.RegularExpressions;
using Ferry.Migration.Vm;
using Ferry.Tests.Shared;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Guest;

/// <summary>KvmVm through the interface the migration engine uses.</summary>
[Collection(KvmCollection.Name)]
public sealed class MigratableVmTests
{
    private const string Memtouch = "--mb 32 --rate 5000 --hb-ms 10";

    [KvmFact]
    public void Dirty_log_reports_the_pages_a_running_workload_writes()
    {
        using var guest = RunningGuest.Start(1, 512UL << 20, TestGuest.Run("memtouch", Memtouch, powerOff: false));
        guest.WaitFor("memtouch ready");
        IMigratableVm vm = guest.Vm;
        using var log = vm.StartDirtyLog();
        log.Collect();
        guest.WaitFor("^HB ", from: guest.Console.Count);
        guest.WaitFor("^HB ", from: guest.Console.Count);
        long dirty = log.Collect().Sum(s => s.Count());
        Assert.True(dirty > 10, $"only {dirty} dirty pages after two heartbeats of a 5000 pages/s workload");
        Assert.True(dirty < (32 << 20) / 4096 + 2048, $"{dirty} dirty pages: far more than the workload touches");
    }

    [KvmFact]
    public void A_throttled_guest_still_runs_in_every_period()
    {
        using var guest = RunningGuest.Start(1, 256UL << 20, TestGuest.Run("memtouch", "--mb 8 --rate 0 --hb-ms 10", powerOff: false));
        guest.WaitFor("memtouch ready");
        IMigratableVm vm = guest.Vm;
        int from = guest.Console.Count;
        vm.SetThrottle(75);
        Thread.Sleep(2000);
        vm.SetThrottle(0);
        int beats = guest.Console.Lines.Skip(from).Count(l => l.Text.StartsWith("HB ", StringComparison.Ordinal));
        // 10 ms heartbeats: ~200 in 2 s at any throttle that lets the vCPU run in every period;
        // a throttle that keeps re-kicking sleeping vCPUs lets almost none through.
        Assert.True(beats >= 50, $"only {beats} heartbeats in 2 s under a 75 % throttle: the guest was stopped, not slowed");
    }

    [KvmFact]
    public void Resident_pages_are_few_in_a_fresh_guest()
    {
        using var guest = RunningGuest.Start(1, 2UL << 30, TestGuest.Run("memtouch", "--mb 8 --rate 0", powerOff: false));
        guest.WaitFor("memtouch ready");
        IMigratableVm vm = guest.Vm;
        long resident = vm.Memory.Regions.Sum(r => vm.ResidentPages(r).Count());
        Assert.InRange(resident, (8 << 20) / 4096, (256 << 20) / 4096);
    }

    [KvmFact]
    public async Task Saved_state_and_memory_loaded_into_a_new_vm_continue_the_workload()
    {
        using var source = RunningGuest.Start(2, 512UL << 20, TestGuest.Run("memtouch", Memtouch + " --threads 2", powerOff: false));
        source.WaitFor("memtouch ready");
        source.WaitFor("^HB ", from: source.Console.Count);
        IMigratableVm from = source.Vm;
        await from.PauseAsync(CancellationToken.None);
        byte[] state = from.SaveState();
        long lastSeq = source.Console.Lines.Select(l => Regex.Match(l.Text, @"^HB (\d+) ")).Where(m => m.Success)
            .Select(m => long.Parse(m.Groups[1].Value)).Last();

        using var target = RunningGuest.Create(2, 512UL << 20, TestGuest.Run("memtouch", Memtouch + " --threads 2", powerOff: false));
        IMigratableVm to = target.Vm;
        var page = new byte[from.Memory.PageSize];
        foreach (var region in from.Memory.Regions)
            foreach (long p in from.ResidentPages(region).Pages())
            {
                ulong gpa = region.Gpa + (ulong)p * (ulong)page.Length;
                from.ReadGuest(gpa, page);
                to.WriteGuest(gpa, page);
            }
        to.LoadState(state);
        target.Vm.Start();

        var next = target.WaitFor(@"^HB (\d+) ");
        Assert.Equal(lastSeq + 1, long.Parse(next.Groups[1].Value));
        target.WaitFor("^HB ", from: target.Console.Count);
        Assert.DoesNotContain("ferry-guest: ready", target.Console.Text); // it did not boot again
    }
}
