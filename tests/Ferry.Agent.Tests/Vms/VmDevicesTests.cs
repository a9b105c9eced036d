using Ferry.Agent.Vms;

namespace Ferry.Agent.Tests.Vms;

/// <summary>A VM's devices as the agent hands them to its VMM: all of them to `ferry run`, only where each is on this host to `ferry receive`.</summary>
public sealed class VmDevicesTests
{
    private static readonly VmRecord Vm = new("web", "/k", "", 128 << 20, 1, "", Intent.Running)
    {
        Disks = [new VmDisk("/images/a.img", false, "data"), new VmDisk("/images/b.img", true, "seed")],
        Nets = [new VmNet("tapa", "02:00:00:00:00:01")],
    };

    [Fact]
    public void Run_gets_every_option_of_each_device_at_the_path_the_vmm_sees()
    {
        Assert.Equal(["--disk", "/disk0,id=data", "--disk", "/disk1,readonly,id=seed", "--net", "tap=tapa,mac=02:00:00:00:00:01"],
            VmDevices.VmmArguments(Vm, (i, _) => $"/disk{i}"));
    }

    [Fact]
    public void Receive_gets_only_where_each_device_is_on_this_host()
    {
        Assert.Equal(["--disk", "/disk0", "--disk", "/disk1", "--net", "tap=tapa"], VmDevices.ReceiverArguments(Vm, (i, _) => $"/disk{i}"));
        Assert.Equal(["--disk", "/images/a.img", "--disk", "/images/b.img", "--net", "tap=tapa"], VmDevices.ReceiverArguments(Vm, (_, d) => d.Path));
    }
}
