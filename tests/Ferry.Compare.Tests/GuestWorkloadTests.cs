using Ferry.Compare.Running;

namespace Ferry.Compare.Tests;

/// <summary>A workload at a sweep point: the swept option replaced or added, and the kernel command line that starts it.</summary>
public sealed class GuestWorkloadTests
{
    [Fact]
    public void A_swept_option_replaces_the_given_one_or_is_added()
    {
        var w = GuestWorkload.Parse("memtouch --mb 1024 --rate 20000");
        Assert.Equal("memtouch --mb 1024 --rate 500", w.With("--rate", "500").ToString());
        Assert.Equal("memtouch --mb 64 --rate 20000", w.With("--mb", "64").ToString());
        Assert.Equal("memtouch --mb 1024 --rate 20000 --threads 2", w.With("--threads", "2").ToString());
        Assert.Equal("memtouch --rate 7", GuestWorkload.Parse("memtouch").With("--rate", "7").ToString());
    }

    [Fact]
    public void Memtouch_heartbeats_every_millisecond_unless_told_otherwise()
    {
        Assert.Equal("memtouch --mb 8 --hb-ms 1", GuestWorkload.Parse("memtouch --mb 8").WithFineHeartbeat().ToString());
        Assert.Equal("memtouch --hb-ms 5", GuestWorkload.Parse("memtouch --hb-ms 5").WithFineHeartbeat().ToString());
        Assert.Equal("memverify --mb 8", GuestWorkload.Parse("memverify --mb 8").WithFineHeartbeat().ToString());
    }

    [Fact]
    public void The_kernel_command_line_starts_the_program_with_its_arguments()
    {
        var w = GuestWorkload.Parse("memtouch --mb 8");
        Assert.Equal("ferry.workload=memtouch ferry.args=\"--mb 8\"", w.KernelCommandLine);
        Assert.Equal("memtouch ready", w.ReadyLine);
        Assert.Equal("ferry.workload=hello", GuestWorkload.Parse("hello").KernelCommandLine);
        Assert.Equal("ferry-guest: ready", GuestWorkload.Parse("hello").ReadyLine);
    }

    [Theory]
    [InlineData("")]
    [InlineData("memtouch;memverify")]
    [InlineData("memtouch \"--mb 8\"")]
    public void A_workload_that_cannot_go_on_the_command_line_is_refused(string text) =>
        Assert.Throws<ArgumentException>(() => GuestWorkload.Parse(text));
}
