using System.Text;
using Ferry.Vmm.State;
using Ferry.Vmm.Tests.Devices;
using Ferry.Vmm.Tests.Devices.InKernel;
using Ferry.Vmm.Tests.Infrastructure;

namespace Ferry.Vmm.Tests.State;

/// <summary>
/// VM states without vCPUs, written by hand for the decoding tests: a header, then device
/// entries framed as given, duplicates and bad ids included. Decoding them needs no KVM.
/// </summary>
internal static class SavedStates
{
    /// <summary>No vCPUs, so no CPUID or MSR of this host matters.</summary>
    public static readonly HostStateLimits Host = new(4096, [], []);

    /// <summary>Every device a VM has, each from its golden sample.</summary>
    public static DeviceStateEntry[] AllDevices() =>
    [
        DeviceStateEntry.Of(DeviceIds.Irqchip, IrqchipStateTests.Sample),
        DeviceStateEntry.Of(DeviceIds.Pit, PitStateTests.Sample),
        DeviceStateEntry.Of(DeviceIds.KvmClock, KvmClockStateTests.Sample),
        DeviceStateEntry.Of(DeviceIds.Serial0, SerialStateTests.Sample),
    ];

    public static byte[] Version2(params DeviceStateEntry[] entries)
    {
        var w = Header(2);
        w.U32((uint)entries.Length);
        foreach (var entry in entries)
        {
            w.Blob(Encoding.Latin1.GetBytes(entry.Id));
            w.U32(entry.Version);
            w.Blob(entry.Payload);
        }
        return w.ToArray();
    }

    public static StateWriter Header(uint version)
    {
        var w = new StateWriter();
        w.U64(VmState.Magic);
        w.U32(version);
        w.U32(4096); // XSAVE size
        w.U32(0);    // vCPUs
        return w;
    }

    public static VmState Decode(byte[] state) => VmState.Decode(state, 0, Host);

    /// <summary>The refusal, which must be one line starting as every device state refusal does.</summary>
    public static string Refusal(byte[] state)
    {
        var e = Assert.Throws<InvalidDataException>(() => Decode(state));
        Assert.StartsWith("the device state section: ", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }
}
