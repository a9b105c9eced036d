using System.Text.RegularExpressions;
using Ferry.Tests.Shared;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.Guest;

[Collection(KvmCollection.Name)]
public sealed partial class PauseResumeTests
{
    [GeneratedRegex(@"^HB (\d+) (\d+) (\d+)$")]
    private static partial Regex Heartbeat();

    private static List<(long Seq, long Ns)> Heartbeats(ConsoleLines console, int from = 0) =>
        [.. console.Lines.Skip(from).Select(l => Heartbeat().Match(l.Text)).Where(m => m.Success)
            .Select(m => (long.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value)))];

    [KvmFact]
    public async Task Pause_stops_a_busy_guest_and_resume_continues_where_it_was()
    {
        using var guest = RunningGuest.Start(2, 1UL << 30, TestGuest.Run("memtouch", "--mb 64 --rate max --threads 2 --hb-ms 10", powerOff: false));
        guest.WaitFor("memtouch ready");
        guest.WaitFor(@"^HB ", from: guest.Console.Count);

        guest.Vm.Pause();
        Assert.Equal(VmRunState.Paused, guest.Vm.State);
        int atPause = guest.Console.Count;
        await Task.Delay(1000);
        Assert.Equal(atPause, guest.Console.Count); // nothing runs while paused

        guest.Vm.Resume();
        guest.WaitFor(@"^HB ", from: atPause);
        guest.WaitFor(@"^HB ", from: guest.Console.Count);

        var beats = Heartbeats(guest.Console);
        for (int i = 1; i < beats.Count; i++)
        {
            Assert.Equal(beats[i - 1].Seq + 1, beats[i].Seq);  // the sequence continues, nothing lost
            Assert.True(beats[i].Ns > beats[i - 1].Ns, "CLOCK_MONOTONIC went backwards");
        }
        // kvmclock was frozen: across the 1 s pause the guest saw far less than 1 s pass.
        var gap = beats.Zip(beats.Skip(1), (a, b) => b.Ns - a.Ns).Max();
        Assert.True(gap < 900_000_000, $"the guest clock ran on during the pause (largest heartbeat gap {gap / 1e6:F0} ms)");
    }

    [KvmFact]
    public void Pausing_twice_and_resuming_twice_is_harmless()
    {
        using var guest = RunningGuest.Start(1, 1UL << 30, TestGuest.Run("memtouch", "--mb 16 --rate 0 --hb-ms 10", powerOff: false));
        guest.WaitFor("memtouch ready");
        guest.Vm.Pause();
        guest.Vm.Pause();
        guest.Vm.Resume();
        guest.Vm.Resume();
        guest.WaitFor(@"^HB ", from: guest.Console.Count);
        Assert.Equal(VmRunState.Running, guest.Vm.State);
    }
}
