using Ferry.Agent;
using Ferry.Agent.Api;
using Ferry.Agent.Vms;
using Ferry.Api;

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

    private static VmDefinition WithNet(string mac) => new() { Name = "web", Nets = { new NetDefinition { Tap = "tapa", Mac = mac } } };

    [Fact]
    public void A_card_s_mac_follows_the_vmm_s_rules_and_is_kept_in_lower_case()
    {
        Assert.Equal("52:54:00:ab:cd:ef", Assert.Single(VmDevices.Nets(WithNet("52:54:00:AB:CD:EF"))).Mac);
        var generated = MacAddress.TryParse(Assert.Single(VmDevices.Nets(WithNet(""))).Mac, out var mac) ? mac : throw new Xunit.Sdk.XunitException("not a MAC");
        Assert.True(generated.IsUsableByCard);
        Assert.Equal(0x02UL, generated.Value >> 40); // locally administered, as the VMM generates them
        Assert.Equal("network card 0: mac '52:54:00:12:34' is not a MAC address (six hex pairs: 52:54:00:12:34:56)",
            Assert.Throws<AgentException>(() => VmDevices.Nets(WithNet("52:54:00:12:34"))).Message);
        Assert.Equal("network card 0: mac 01:00:00:00:00:01 is a multicast or null address; a card needs a unicast one",
            Assert.Throws<AgentException>(() => VmDevices.Nets(WithNet("01:00:00:00:00:01"))).Message);
        Assert.Contains("multicast or null", Assert.Throws<AgentException>(() => VmDevices.Nets(WithNet("00:00:00:00:00:00"))).Message);
    }

    [Fact]
    public void A_disk_s_id_follows_the_vmm_s_rule()
    {
        string image = Path.GetTempFileName();
        try
        {
            VmDefinition Disk(string id) => new() { Name = "web", Disks = { new DiskDefinition { Path = image, Id = id } } };
            Assert.Equal("disk0", Assert.Single(VmDevices.Disks(Disk(""))).Id);
            Assert.Equal("twenty-characters-ok", Assert.Single(VmDevices.Disks(Disk("twenty-characters-ok"))).Id);
            Assert.Equal("disk 0: id must be 1 to 20 printable ASCII characters, no comma",
                Assert.Throws<AgentException>(() => VmDevices.Disks(Disk("twenty-one-characters"))).Message);
            Assert.Throws<AgentException>(() => VmDevices.Disks(Disk("a,b")));
        }
        finally { File.Delete(image); }
    }
}
