using Ferry.Kvm.Structs;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.Devices.Serial;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Devices;
using Ferry.Vmm.Tests.Devices.InKernel;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.State;

/// <summary>
/// The VM state's own layout around the device entries: version 2 as this Ferry writes it, and
/// version 1 as the Ferry before device entries wrote it, which must still decode (a snapshot
/// from then, or a migration from a host not yet upgraded).
/// </summary>
public sealed class VmStateTests
{
    private const string Header = "4652525953544154"; // "FRRYSTAT"

    private static VmState Sample() => new()
    {
        XsaveSize = 4096,
        Cpuids = [],
        Vcpus = [],
        Irqchip = IrqchipStateTests.Sample,
        Pit = PitStateTests.Sample,
        Clock = KvmClockStateTests.Sample,
        Serial = SerialStateTests.Sample,
    };

    [Fact]
    public void Version_2_is_the_vcpus_then_an_entry_per_device()
    {
        string golden =
            Header + " 02000000 00100000 00000000 " +  // version 2, XSAVE size 4096, no vCPUs
            "04000000 " +                              // four devices
            "07000000 69727163686970 01000000 24060000 " + IrqchipStateTests.Golden[1] + " " +   // "irqchip", version 1, 1572 bytes
            "03000000 706974 01000000 74000000 " + PitStateTests.Golden[1] + " " +                // "pit", version 1, 116 bytes
            "08000000 6b766d636c6f636b 01000000 34000000 " + KvmClockStateTests.Golden[1] + " " + // "kvmclock", version 1, 52 bytes
            "07000000 73657269616c30 01000000 1e000000 " + SerialStateTests.Golden[1];           // "serial0", version 1, 30 bytes
        GoldenHex.AssertEqual(golden, Sample().Encode());
    }

    [Fact]
    public void A_state_round_trips_through_its_encoding()
    {
        byte[] encoded = Sample().Encode();
        Assert.Equal(encoded, SavedStates.Decode(encoded).Encode());
    }

    [Fact]
    public void Version_1_is_read_as_the_same_devices()
    {
        // Version 1 wrote each device's fields in a fixed order without ids: exactly the
        // version 1 records, the UART's preceded by its record version.
        string version1 = Header + " 01000000 00100000 00000000 " +
                          IrqchipStateTests.Golden[1] + " " + PitStateTests.Golden[1] + " " + KvmClockStateTests.Golden[1] + " " +
                          "01000000 " + SerialStateTests.Golden[1];
        var decoded = SavedStates.Decode(GoldenHex.Parse(version1));
        Assert.Equal(Sample().Encode(), decoded.Encode());
    }

    [Fact]
    public void Version_1_with_a_newer_uart_record_is_refused_naming_the_uart()
    {
        string version1 = Header + " 01000000 00100000 00000000 " +
                          IrqchipStateTests.Golden[1] + " " + PitStateTests.Golden[1] + " " + KvmClockStateTests.Golden[1] + " " +
                          "02000000 " + SerialStateTests.Golden[1];
        Assert.Equal("the device state section: device serial0: state version 2 is newer than this ferry supports (1)",
            SavedStates.Refusal(GoldenHex.Parse(version1)));
    }

    /// <summary>
    /// State/Data/vm-state-v1.bin is a real state the Ferry before device entries saved (the test
    /// guest running memtouch, one vCPU). Its vCPU part needs this host's CPU to load; its
    /// devices are read here without KVM.
    /// </summary>
    [Fact]
    public void The_devices_of_a_version_1_state_the_previous_ferry_saved_decode()
    {
        byte[] saved = File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "State", "Data", "vm-state-v1.bin"));
        var r = new StateReader(saved);
        Assert.Equal(VmState.Magic, r.U64("magic"));
        Assert.Equal(1u, r.U32("version"));
        r.U32("xsave size");
        uint vcpus = r.U32("vCPU count");
        for (int i = 0; i < vcpus; i++)
        {
            uint cpuid = r.U32("cpuid count");
            for (int e = 0; e < cpuid; e++) r.Struct<KvmCpuidEntry2>("cpuid entry");
            VcpuState.Read(ref r);
        }
        var devices = VmStateV1Devices.Read(ref r);

        Assert.Equal([DeviceIds.Irqchip, DeviceIds.Pit, DeviceIds.KvmClock, DeviceIds.Serial0], devices.All.Select(e => e.Id));
        // What that guest left: chips with their ids (checked by decoding), a PIT it never
        // programmed (KVM's mode 0xff), a running clock, and a UART it wrote to at the firmware's divisor.
        devices.Take<IrqchipState>(DeviceIds.Irqchip);
        var pit = devices.Take<PitState>(DeviceIds.Pit);
        var clock = devices.Take<KvmClockState>(DeviceIds.KvmClock);
        var serial = devices.Take<SerialState>(DeviceIds.Serial0);
        devices.EnsureAllTaken();
        Assert.Equal(0xff, StructBytes.Bytes(pit.Pit)[PitState2Fields.Channels + PitState2Fields.ChannelMode]);
        Assert.NotEqual(0ul, clock.Clock.Clock);
        Assert.Equal(12, serial.Divisor);
        Assert.True(serial.ThrEmptyPending);
    }
}
