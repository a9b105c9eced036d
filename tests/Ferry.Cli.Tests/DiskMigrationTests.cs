using System.Text.RegularExpressions;
using Ferry.Cli.Tests.Infrastructure;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// A VM with a disk (shared storage: the destination opens the same image path) moved by every
/// migration mode while blkverify writes, fsyncs and re-reads it: the workload runs on at the
/// destination without an error, the image verifies clean afterwards, the image's lock is handed
/// over (a third VM is refused throughout) and taken back by a source whose migration failed.
/// </summary>
[Collection(KvmCollection.Name)]
public sealed partial class DiskMigrationTests : IDisposable
{
    private readonly LiveMigrationRig _rig = new("ferry-disk-");

    public DiskMigrationTests()
    {
        // 16 MiB, sparse: blkverify wants zero data blocks on a fresh image.
        using var image = File.Create(Image);
        image.SetLength(16 << 20);
    }

    private string Image => Path.Combine(_rig.Directory, "disk.img");

    [GeneratedRegex(@"^blkverify OK written=(\d+) acked=(\d+) verified=(\d+) bad=0 gen=(\d+)$")]
    private static partial Regex Ok();

    [GeneratedRegex(@"^blkverify verified dev=\S+ blocks=(\d+) acked=(\d+) gen=(\d+) written=(\d+) zero=(\d+) bad=(\d+)$")]
    private static partial Regex Verified();

    /// <summary>A VM writing the image at 500 blocks/s, fsyncing every 16: writes and flushes are in flight at any pause.</summary>
    private static FerryProcess Writer(string name, string image) => FerryProcess.Start(
        "run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M", "--cpus", "2", "--name", name,
        "--disk", image, "--cmdline", TestGuest.Run("blkverify", "--rate 500 --sync 16 --hb-ms 200", powerOff: false));

    /// <summary>
    /// Waits until blkverify reports an acknowledged write beyond <paramref name="beyond"/> and
    /// returns that line's (written, acked). Fails at once on a FAIL or BAD line.
    /// </summary>
    private static (long Written, long Acked) WaitForAcked(FerryProcess vm, long beyond, int seconds = 120)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            foreach (var (_, text) in vm.Console.Lines)
            {
                if (text.StartsWith("blkverify FAIL", StringComparison.Ordinal) || text.StartsWith("blkverify BAD", StringComparison.Ordinal))
                    throw new Xunit.Sdk.XunitException($"blkverify found a bad block: {text}\nConsole:\n{Tail(vm)}");
                var m = Ok().Match(text);
                if (m.Success && long.Parse(m.Groups[2].Value) > beyond) return (long.Parse(m.Groups[1].Value), long.Parse(m.Groups[2].Value));
            }
            if (vm.HasExited || DateTime.UtcNow > deadline)
                throw new Xunit.Sdk.XunitException($"blkverify acknowledged nothing beyond write {beyond} (ferry {(vm.HasExited ? "exited" : "runs")}). " +
                                                   $"Console:\n{Tail(vm)}\nStderr:\n{vm.Stderr}");
            Thread.Sleep(100);
        }
    }

    /// <summary>The last write blkverify reported acknowledged, 0 if none.</summary>
    private static long LastAcked(FerryProcess vm) =>
        vm.Console.Lines.Select(l => Ok().Match(l.Text)).Where(m => m.Success).Select(m => long.Parse(m.Groups[2].Value)).DefaultIfEmpty(0).Max();

    private static string Tail(FerryProcess vm) => string.Join('\n', vm.Console.Lines.TakeLast(30).Select(l => l.Text));

    /// <summary>`blkverify --verify-only` in a fresh VM on the image, readonly: returns its acked write; asserts every block good.</summary>
    private static long VerifyClean(string image)
    {
        var r = FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "256M", "--cpus", "1",
            "--disk", image + ",readonly", "--cmdline", TestGuest.Run("blkverify", "--verify-only"));
        var m = Verified().Match(r.Stdout.Split('\n').Select(l => l.TrimEnd('\r')).FirstOrDefault(l => Verified().IsMatch(l)) ?? "");
        Assert.True(m.Success, $"blkverify --verify-only printed no verified line (ferry exit {r.Code}). Stdout:\n{r.Stdout}\nStderr:\n{r.Stderr}");
        Assert.True(m.Groups[6].Value == "0", $"blkverify --verify-only found bad blocks:\n{r.Stdout}");
        Assert.Contains("ferry-guest: workload exited status=0", r.Stdout);
        return long.Parse(m.Groups[2].Value);
    }

    /// <summary>Every block verifies, and the image's header has at least write <paramref name="acked"/> acknowledged.</summary>
    private static void AssertVerifiesClean(string image, long acked, string what)
    {
        long found = VerifyClean(image);
        Assert.True(found >= acked, $"{what}: the image's header has write {found} acknowledged, blkverify reported {acked}");
    }

    /// <summary>A third VM that wants the image writable is refused while <paramref name="holder"/> has it.</summary>
    private void AssertLockedByAnother(string holder, string? image = null)
    {
        image ??= Image;
        var r = FerryProcess.Run("run", "--kernel", TestGuest.Kernel, "--disk", image);
        Assert.True(r.Code == 2 && r.Stderr.Contains($"disk {image} is in use by another VM"),
            $"a third VM was not refused the image {holder} holds (exit {r.Code}): {r.Stderr}");
    }

    [KvmTheory]
    [InlineData("cold")]
    [InlineData("precopy")]
    [InlineData("postcopy")]
    [InlineData("hybrid")]
    public void A_disk_being_written_moves_on_shared_storage_and_verifies_clean(string mode)
    {
        string src = $"disk-{mode}-src", dst = $"disk-{mode}-dst";
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        string[] extra = mode switch
        {
            "cold" => [],
            // One round, then post-copy: at 25 MB/s, 1 ms of downtime is 6 pages, fewer than the
            // guest dirties in a round (over loopback at full speed it would stop and copy instead).
            "hybrid" => ["--verify-memory", "--max-rounds", "1", "--max-downtime", "1ms", "--bandwidth", "200Mbit", "--compress", "none", "--json"],
            _ => ["--verify-memory"], // device writes to guest RAM must have reached the destination too
        };
        var r = _rig.Migrate(src, port, mode, extra);
        Assert.True(r.Code == 0, $"migrate --mode {mode} failed ({r.Code}): {r.Stderr}");
        if (mode == "hybrid") Assert.Contains("\"post_copy\":{", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        long before = LastAcked(source);
        Assert.DoesNotContain("blkverify FAIL", source.Console.Text);

        // blkverify carries on at the destination: it writes, fsyncs and re-reads blocks beyond the source's.
        long acked = WaitForAcked(destination, before).Acked;
        acked = WaitForAcked(destination, acked).Acked; // and on: more writes are acknowledged there
        if (mode is "postcopy" or "hybrid") destination.WaitForStderr("post-copy complete");
        AssertLockedByAnother("the destination");

        Assert.Equal(0, FerryProcess.Run("stop", "--name", dst).Code);
        destination.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the destination acknowledged");
    }

    [KvmFact]
    public void A_flushed_write_survives_kill_9_of_the_vmm()
    {
        long acked;
        using (var vm = Writer("disk-kill9", Image))
        {
            vm.WaitFor("blkverify ready", seconds: 120);
            acked = WaitForAcked(vm, 0).Acked;
            acked = WaitForAcked(vm, acked).Acked; // mid-run: writes and flushes go on around the kill
            vm.Kill();
        }
        AssertVerifiesClean(Image, acked, "the image lost writes acknowledged before the kill");
    }

    [KvmTheory]
    [InlineData("precopy")]
    [InlineData("postcopy")]
    public async Task A_source_whose_destination_dies_before_the_commit_takes_its_lock_back_and_writes_on(string mode)
    {
        string src = $"disk-abort-{mode}-src", dst = $"disk-abort-{mode}-dst";
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port);
        // Held just before the destination's Ready: the source has closed its image, the destination has locked it.
        await using var link = new FaultingLink(port, MigrationPhases.All.Single(p => p.Name == "ready").Start);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        using var migrate = FerryProcess.Start("migrate", "--name", src, "--to", $"127.0.0.1:{link.Port}", "--mode", mode, "--token-file", _rig.Token);
        var reached = await Task.WhenAny(link.Reached, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(reached == link.Reached, $"the {mode} migration never reached the destination's Ready; migrate: {migrate.Stderr}");
        AssertLockedByAnother("the destination, before its Ready");

        destination.Kill();
        link.Cut();
        Assert.Equal((int)ExitCode.MigrationFailed, migrate.WaitForExit(TimeSpan.FromSeconds(120)));
        Assert.Contains("keeps running here", migrate.Stderr);

        // The source locked its image again before the guest ran on, and blkverify writes on there.
        AssertLockedByAnother("the source, after the failed migration");
        long acked = WaitForAcked(source, LastAcked(source)).Acked;
        Assert.Contains("\"state\":\"running\"", FerryProcess.Run("status", "--name", src, "--json").Stdout);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the source acknowledged");
    }

    [KvmFact]
    public async Task An_image_taken_while_neither_side_holds_it_fails_the_migration_and_the_source_waits_paused_for_it()
    {
        string src = "disk-taken-src", dst = "disk-taken-dst";
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port);
        // Held just before the device state crosses: the source has saved it and closed its image; the destination has not locked it yet.
        await using var link = new FaultingLink(port, MigrationPhases.All.Single(p => p.Name == "state").Start);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        using var migrate = FerryProcess.Start("migrate", "--name", src, "--to", $"127.0.0.1:{link.Port}", "--mode", "precopy", "--token-file", _rig.Token);
        var reached = await Task.WhenAny(link.Reached, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(reached == link.Reached, $"the migration never reached its device state; migrate: {migrate.Stderr}");
        // Another VM takes the image in that window (readonly: it only reads, but a writer is kept out).
        using var other = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "64M", "--cpus", "1",
            "--name", "disk-taken-other", "--disk", Image + ",readonly", "--cmdline", TestGuest.Run("hello-musl", "x", powerOff: false));
        other.WaitFor("hello from musl", seconds: 120);
        link.Release();

        Assert.NotEqual(0, migrate.WaitForExit(TimeSpan.FromSeconds(120)));
        Assert.Contains($"disk {Image} is in use by another VM", migrate.Stderr);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(migrate.Stderr, "stays paused here"));
        Assert.DoesNotContain("keeps running here", migrate.Stderr);
        Assert.DoesNotContain("\"state\":\"running\"", FerryProcess.Run("status", "--name", src, "--json").Stdout);

        // Once the other VM is gone, the source takes its image back and writes on.
        other.Kill();
        var resumed = FerryProcess.Run("resume", "--name", src);
        Assert.True(resumed.Code == 0, $"resume: {resumed.Stderr}");
        long acked = WaitForAcked(source, LastAcked(source)).Acked;
        AssertLockedByAnother("the resumed source");
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the source acknowledged");
    }

    [KvmFact]
    public void Receive_disk_maps_the_image_to_a_copy_at_another_path()
    {
        string src = "disk-copy-src", dst = "disk-copy-dst", copy = Path.Combine(_rig.Directory, "copy.img");
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port, "--disk", copy);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        // Paused, the VM has nothing in flight and its image holds every write it made: copy it.
        Assert.Equal(0, FerryProcess.Run("pause", "--name", src).Code);
        // With cp: .NET's File.Copy takes a flock of its own, which the VM's lock refuses.
        using (var cp = System.Diagnostics.Process.Start("cp", [Image, copy]))
        {
            cp.WaitForExit();
            Assert.Equal(0, cp.ExitCode);
        }
        long before = LastAcked(source);
        var r = _rig.Migrate(src, port, "cold");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));

        long acked = WaitForAcked(destination, before).Acked;
        AssertLockedByAnother("the destination", copy);
        StopAndVerifyBoth(dst, destination, copy, acked, before);
    }

    /// <summary>
    /// Stops the destination, then checks both images: the copy holds every write the destination
    /// acknowledged, the source's image every write the source acknowledged before it let go.
    /// </summary>
    private void StopAndVerifyBoth(string dst, FerryProcess destination, string copy, long destinationAcked, long sourceAcked)
    {
        Assert.Equal(0, FerryProcess.Run("stop", "--name", dst).Code);
        destination.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(copy, destinationAcked, "the copy lost writes the destination acknowledged");
        AssertVerifiesClean(Image, sourceAcked, "the source's image lost writes the source acknowledged");
    }

    [KvmFact]
    public void A_destination_given_a_missing_image_fails_the_migration_before_the_commit_and_the_vm_writes_on()
    {
        string src = "disk-missing-src", dst = "disk-missing-dst", missing = Path.Combine(_rig.Directory, "missing.img");
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port, "--disk", missing);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        var r = _rig.Migrate(src, port, "precopy");
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        // Besides progress lines, one line says what failed, why, and where the VM is.
        var failed = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("failed")).ToList();
        Assert.True(failed.Count == 1, $"not one line: {r.Stderr}");
        Assert.Contains($"disk {missing}: no such file", failed[0]);
        Assert.Contains("keeps running here", failed[0]);

        long acked = WaitForAcked(source, LastAcked(source)).Acked;
        AssertLockedByAnother("the source");
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the source acknowledged");
    }

    public void Dispose() => _rig.Dispose();
}
