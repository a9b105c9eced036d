using Ferry.Cli.Tests.Infrastructure;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

[Collection(KvmCollection.Name)]
public sealed class SnapshotRestoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ferry-snap-").FullName;

    private static string[] Guest(string name, string cmdline, int cpus = 2) =>
        ["run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "1G", "--cpus", cpus.ToString(), "--name", name, "--cmdline", cmdline];

    private string Snapshot(string vmName, string file, bool resume = false)
    {
        string path = Path.Combine(_dir, file);
        var args = new List<string> { "snapshot", "--name", vmName, "--out", path };
        if (resume) args.Add("--resume");
        var r = FerryProcess.Run([.. args]);
        Assert.True(r.Code == 0, $"snapshot failed ({r.Code}): {r.Stderr}");
        return path;
    }

    [KvmFact]
    public async Task A_restored_smp_guest_continues_its_heartbeat_sequence_and_its_clock()
    {
        using var vm = FerryProcess.Start(Guest("snap-src", TestGuest.Run("memtouch", "--mb 64 --rate 2000 --threads 2 --hb-ms 10", powerOff: false)));
        vm.WaitFor("memtouch ready");
        vm.WaitFor("^HB ", from: vm.Console.Count);
        string snap = Snapshot("snap-src", "smp.snap");
        await Task.Delay(300);
        var before = Heartbeats.In(vm.Console);
        FerryProcess.Run("stop", "--name", "snap-src");
        await Task.Delay(1500); // wall time passes; the guest must not see it

        // Two restores from the same snapshot both continue from the same point.
        for (int i = 0; i < 2; i++)
        {
            using var restored = FerryProcess.Start("restore", snap, "--name", $"snap-restored-{i}");
            restored.WaitFor("^HB ");
            restored.WaitFor("^HB ", from: restored.Console.Count);
            var after = Heartbeats.In(restored.Console);
            Assert.DoesNotContain("ferry-guest: ready", restored.Console.Text);
            Heartbeats.AssertContinues(vm.Console, restored.Console); // a line the snapshot cut in two counts once
            long gapNs = after[0].Ns - before[^1].Ns;
            Assert.InRange(gapNs, 1, 500_000_000); // monotonic, and no jump by the seconds spent stopped
            Assert.Equal(0, FerryProcess.Run("stop", "--name", $"snap-restored-{i}").Code);
            Assert.Equal(0, restored.WaitForExit(TimeSpan.FromSeconds(30)));
        }
    }

    [KvmFact]
    public void Memverify_stays_clean_across_snapshot_with_resume_and_restore()
    {
        using var vm = FerryProcess.Start(Guest("snap-mv", TestGuest.Run("memverify", "--mb 256 --mode idle --period-ms 200", powerOff: false)));
        vm.WaitFor("memverify ready", seconds: 120);
        vm.WaitFor("memverify OK", seconds: 60);
        string snap = Snapshot("snap-mv", "mv.snap", resume: true);
        vm.WaitFor("memverify OK", from: vm.Console.Count, seconds: 60); // the source ran on
        FerryProcess.Run("stop", "--name", "snap-mv");

        using var restored = FerryProcess.Start("restore", snap, "--name", "snap-mv-restored");
        restored.WaitFor("memverify OK", seconds: 60);
        restored.WaitFor("memverify OK", from: restored.Console.Count, seconds: 60);
        Assert.DoesNotContain("BAD", restored.Console.Text);
        Assert.DoesNotContain("FAIL", restored.Console.Text);
        FerryProcess.Run("stop", "--name", "snap-mv-restored");
    }

    [KvmFact]
    public void Corrupted_or_truncated_snapshots_are_refused_with_the_section_named()
    {
        using var vm = FerryProcess.Start(Guest("snap-bad", TestGuest.Run("memtouch", "--mb 16 --rate 100", powerOff: false), cpus: 1));
        vm.WaitFor("memtouch ready");
        string snap = Snapshot("snap-bad", "good.snap");
        FerryProcess.Run("stop", "--name", "snap-bad");
        var good = File.ReadAllBytes(snap);

        for (int at = 0; at < good.Length;)
        {
            long length = BitConverter.ToInt64(good, at + 8);
            string bad = Path.Combine(_dir, "bad.snap");
            var bytes = (byte[])good.Clone();
            bytes[at + 16 + length / 2] ^= 0x01;
            File.WriteAllBytes(bad, bytes);
            var r = FerryProcess.Run("restore", bad, "--name", "snap-bad-restore");
            Assert.Equal((int)ExitCode.BadInput, r.Code);
            Assert.Matches(@"^ferry: snapshot .* cannot be restored: section #\d+ \((header|configuration|device state|memory|end)\) is corrupted", r.Stderr.Trim());
            Assert.DoesNotContain("ferry-guest", r.Stdout);

            File.WriteAllBytes(bad, good[..(at + 16 + (int)(length / 2))]);
            r = FerryProcess.Run("restore", bad, "--name", "snap-bad-restore");
            Assert.Equal((int)ExitCode.BadInput, r.Code);
            Assert.Contains("truncated", r.Stderr);
            at += 16 + (int)length + 8;
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
