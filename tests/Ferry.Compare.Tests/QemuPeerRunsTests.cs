using Ferry.Compare.Running;

namespace Ferry.Compare.Tests;

/// <summary>The QEMU peer harness's JSON lines as runs of the table.</summary>
public sealed class QemuPeerRunsTests
{
    [Fact]
    public void A_completed_post_copy_line_becomes_an_ok_run_with_its_figures()
    {
        var r = QemuPeerRuns.FromPeerLine("""{"run": 2, "status": "completed", "dst_guest_ok": true, "total_time_ms": 1760, "downtime_ms": 2, "guest_downtime_ms": 60.5, "baseline_max_hb_gap_ms": 13.4, "ram_transferred": 1095216660, "postcopy_requests": 545}""", "qemu-postcopy", "400000")!;
        Assert.True(r.Ok);
        Assert.Equal(2, r.Run);
        Assert.Equal("400000", r.Point);
        Assert.Equal(1760, r.TotalMs);
        Assert.Equal(2, r.DowntimeMs);
        Assert.Equal(47.1, r.GuestDowntimeMs!.Value, 1);
        Assert.Equal(1095216660, r.BytesSent);
        Assert.Equal(545, r.Faults);
        Assert.Null(r.WindowMs); // QEMU does not say how long its post-copy window lasted
    }

    [Fact]
    public void A_zero_total_time_is_not_taken_for_a_measurement()
    {
        var r = QemuPeerRuns.FromPeerLine("""{"run": 1, "status": "completed", "dst_guest_ok": true, "total_time_ms": 0, "downtime_ms": 0, "ram_transferred": 2160316553}""", "qemu-precopy", null)!;
        Assert.True(r.Ok);
        Assert.Null(r.TotalMs);
        Assert.Null(r.DowntimeMs);
        Assert.Equal(2160316553, r.BytesSent);
    }

    [Theory]
    [InlineData("""{"run": 1, "status": "cancelled-after-timeout", "dst_guest_ok": false}""", "QEMU: cancelled-after-timeout")]
    [InlineData("""{"run": 1, "status": "completed", "dst_guest_ok": false}""", "not healthy")]
    public void A_migration_that_did_not_move_a_healthy_guest_fails_with_why(string line, string error)
    {
        var r = QemuPeerRuns.FromPeerLine(line, "qemu-precopy", null)!;
        Assert.False(r.Ok);
        Assert.Contains(error, r.Error);
    }

    [Theory]
    [InlineData("# guest ready after 3.1 s")]
    [InlineData("[1, 2]")]
    [InlineData("{\"no_run\": 1}")]
    public void Other_lines_are_not_runs(string line) => Assert.Null(QemuPeerRuns.FromPeerLine(line, "qemu-precopy", null));
}
