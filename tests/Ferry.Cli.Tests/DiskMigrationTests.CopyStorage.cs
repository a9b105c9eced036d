using Ferry.Cli.Tests.Infrastructure;
using Ferry.Migration.Format;
using Ferry.Migration.Transport;
using Ferry.Tests.Shared;

namespace Ferry.Cli.Tests;

/// <summary>
/// `--copy-storage`: the image moves with the VM to a path of the destination's own while
/// blkverify writes it; blkverify carries on there and the copy verifies clean. A copy that fails
/// before the commit leaves the source writing on its untouched image and no partial copy behind.
/// </summary>
public sealed partial class DiskMigrationTests
{
    private string CopyPath => Path.Combine(_rig.Directory, "copied", "disk.img");

    [KvmTheory]
    [InlineData("cold")]
    [InlineData("precopy")]
    [InlineData("postcopy")]
    [InlineData("hybrid")]
    public void A_disk_being_written_moves_with_copy_storage_to_another_image_and_verifies_clean(string mode)
    {
        string src = $"copy-{mode}-src", dst = $"copy-{mode}-dst", copy = CopyPath;
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port, "--disk", copy);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        // The live modes check guest RAM too: what the disk's reads put there reached the destination.
        string[] extra = mode switch
        {
            "cold" => ["--copy-storage", "--json"],
            // One round, then post-copy (as on shared storage): the blocks written since go after the resume, fetched or pushed.
            "hybrid" => ["--copy-storage", "--verify-memory", "--max-rounds", "1", "--max-downtime", "1ms", "--bandwidth", "200Mbit", "--compress", "none", "--json"],
            _ => ["--copy-storage", "--verify-memory", "--json"],
        };
        var r = _rig.Migrate(src, port, mode, extra);
        Assert.True(r.Code == 0, $"migrate --mode {mode} --copy-storage failed ({r.Code}): {r.Stderr}");
        Assert.Contains("\"storage\":{\"disk_bytes_sent\":", r.Stdout);
        if (mode == "hybrid") Assert.Contains("\"post_copy\":{", r.Stdout);
        if (mode is "postcopy" or "hybrid") Assert.Contains("\"blocks_requested\":", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        long before = LastAcked(source);
        Assert.DoesNotContain("blkverify FAIL", source.Console.Text);

        // blkverify carries on at the destination on the copy: it re-reads what it synced there.
        long acked = WaitForAcked(destination, before).Acked;
        acked = WaitForAcked(destination, acked).Acked;
        if (mode is "postcopy" or "hybrid") destination.WaitForStderr("post-copy complete");
        AssertLockedByAnother("the destination", copy);
        // The source's image stays as it was at the switchover: whole, every write it acknowledged there.
        StopAndVerifyBoth(dst, destination, copy, acked, before);
    }

    [KvmFact]
    public void A_disk_being_written_survives_snapshot_and_restore_and_verifies_clean()
    {
        string src = "disk-snap-src", dst = "disk-snap-restored", snap = Path.Combine(_rig.Directory, "disk.snap");
        using var source = Writer(src, Image);
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        // The snapshot pauses the VM (its disk drained: nothing in flight) and leaves it paused.
        var s = FerryProcess.Run("snapshot", "--name", src, "--out", snap);
        Assert.True(s.Code == 0, $"snapshot failed ({s.Code}): {s.Stderr}");
        long before = LastAcked(source);
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));

        using var restored = FerryProcess.Start("restore", snap, "--name", dst);
        long acked = WaitForAcked(restored, before).Acked;
        acked = WaitForAcked(restored, acked).Acked;
        AssertLockedByAnother("the restored VM");
        Assert.Equal(0, FerryProcess.Run("stop", "--name", dst).Code);
        restored.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the restored VM acknowledged");
    }

    [KvmTheory]
    [InlineData("precopy")]
    [InlineData("postcopy")] // every block after the switchover, pushed or fetched
    public void A_copied_image_equals_the_source_image_byte_for_byte(string mode)
    {
        string src = $"copy-equal-{mode}-src", dst = $"copy-equal-{mode}-dst", copy = CopyPath;
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        int port = Heartbeats.FreePort();
        // blkverify writes for two seconds, syncs, verifies and exits; the guest then idles, so the image stands still.
        using var source = FerryProcess.Start("run", "--kernel", TestGuest.Kernel, "--initrd", TestGuest.Initrd, "--memory", "128M", "--cpus", "1",
            "--name", src, "--disk", Image, "--cmdline", TestGuest.Run("blkverify", "--rate 2000 --sync 16 --seconds 2", powerOff: false));
        using var destination = _rig.Receiver(dst, port, "--disk", copy);
        source.WaitFor("blkverify done", seconds: 120);
        destination.WaitForStderr("waiting for a migration");

        var r = _rig.Migrate(src, port, mode, "--copy-storage");
        Assert.True(r.Code == 0, $"migrate failed ({r.Code}): {r.Stderr}");
        Assert.Contains("disk: ", r.Stdout);
        Assert.Equal(0, source.WaitForExit(TimeSpan.FromSeconds(30)));
        if (mode == "postcopy")
        {
            Assert.Contains("after the switchover (", r.Stdout); // the disk's blocks went after the resume
            destination.WaitForStderr("and every disk block: ");
        }
        Assert.Equal(0, FerryProcess.Run("stop", "--name", dst).Code);
        destination.WaitForExit(TimeSpan.FromSeconds(30));
        Assert.Equal(new FileInfo(Image).Length, new FileInfo(copy).Length);
        Assert.True(File.ReadAllBytes(Image).AsSpan().SequenceEqual(File.ReadAllBytes(copy)), "the copy differs from the source's image");
    }

    [KvmFact]
    public async Task A_copy_that_fails_before_the_commit_leaves_the_source_writing_on_its_image_and_no_partial_copy()
    {
        string src = "copy-abort-src", dst = "copy-abort-dst", copy = CopyPath;
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port, "--disk", copy);
        // Held as the first disk blocks cross: the destination has created its image and built the VM on it.
        await using var link = new FaultingLink(port, PhaseStart.FromSource(SectionType.DiskBlocks));
        source.WaitFor("blkverify ready", seconds: 120);
        WaitForAcked(source, 0);
        destination.WaitForStderr("waiting for a migration");

        using var migrate = FerryProcess.Start("migrate", "--name", src, "--to", $"127.0.0.1:{link.Port}", "--mode", "precopy", "--copy-storage", "--token-file", _rig.Token);
        var reached = await Task.WhenAny(link.Reached, Task.Delay(TimeSpan.FromSeconds(90)));
        Assert.True(reached == link.Reached, $"the migration never sent disk blocks; migrate: {migrate.Stderr}");
        Assert.True(File.Exists(copy), "the destination had not created its image");
        link.Cut();

        Assert.Equal((int)ExitCode.MigrationFailed, migrate.WaitForExit(TimeSpan.FromSeconds(120)));
        Assert.Contains("keeps running here", migrate.Stderr);
        Assert.Equal((int)ExitCode.MigrationFailed, destination.WaitForExit(TimeSpan.FromSeconds(60)));
        Assert.False(File.Exists(copy), "the destination left its partial image behind");

        long acked = WaitForAcked(source, LastAcked(source)).Acked;
        AssertLockedByAnother("the source, after the failed copy");
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the source acknowledged");
    }

    [KvmFact]
    public void A_copy_onto_the_source_s_own_image_is_refused_untouched_and_the_vm_writes_on()
    {
        string src = "copy-self-src", dst = "copy-self-dst";
        int port = Heartbeats.FreePort();
        using var source = Writer(src, Image);
        using var destination = _rig.Receiver(dst, port); // no --disk: the source's own path, on this same host
        source.WaitFor("blkverify ready", seconds: 120);
        long acked = WaitForAcked(source, 0).Acked;
        destination.WaitForStderr("waiting for a migration");

        var r = _rig.Migrate(src, port, "precopy", "--copy-storage");
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        var failed = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.Contains("failed")).ToList();
        Assert.True(failed.Count == 1, $"not one line: {r.Stderr}");
        Assert.Contains($"disk {Image} is in use by another VM", failed[0]);
        Assert.Contains("keeps running here", failed[0]);
        Assert.True(File.Exists(Image) && new FileInfo(Image).Length == 16 << 20);

        acked = WaitForAcked(source, Math.Max(acked, LastAcked(source))).Acked;
        Assert.Equal(0, FerryProcess.Run("stop", "--name", src).Code);
        source.WaitForExit(TimeSpan.FromSeconds(30));
        AssertVerifiesClean(Image, acked, "the image lost writes the source acknowledged");
    }

    [KvmFact]
    public void Copy_storage_without_a_disk_and_a_disk_in_a_missing_directory_fail_with_one_line()
    {
        string src = "copy-nodisk-src";
        int port = Heartbeats.FreePort();
        using var source = LiveMigrationRig.Source(src, "hello-musl", "x", memory: "128M");
        source.WaitFor("hello from musl", seconds: 120);
        var r = _rig.Migrate(src, port, "precopy", "--copy-storage");
        Assert.Equal((int)ExitCode.MigrationFailed, r.Code);
        Assert.Contains("--copy-storage: this VM has no disk to copy", r.Stderr);
        Assert.Contains("keeps running here", r.Stderr);

        string nowhere = Path.Combine(_rig.Directory, "no-such-dir", "disk.img");
        var receive = FerryProcess.Run("receive", "--listen", $"127.0.0.1:{port}", "--disk", nowhere);
        Assert.Equal((int)ExitCode.BadInput, receive.Code);
        Assert.Equal($"ferry: --disk {nowhere}: no such directory {Path.GetDirectoryName(nowhere)}", receive.Stderr.Trim());
    }
}
