using Ferry.Kvm.Structs;
using Ferry.Vmm.Cpu;
using Ferry.Vmm.Devices.Serial;

namespace Ferry.Vmm.State;

/// <summary>
/// A VM's saved state (what <see cref="KvmVm.SaveState"/> writes), decoded and checked whole
/// before any of it reaches KVM: a state from a peer or a file that KVM would refuse, or that
/// would make it read past a buffer, is refused here with the field named. Decoding needs no
/// VM, so the fuzz targets run it alone.
/// </summary>
public sealed class VmState
{
    public const ulong Magic = 0x5441_5453_5952_5246; // "FRRYSTAT"
    public const uint Version = 1;
    /// <summary>KVM_MAX_CPUID_ENTRIES.</summary>
    public const int MaxCpuidEntries = 256;

    public required KvmCpuidEntry2[][] Cpuids { get; init; }
    public required VcpuState[] Vcpus { get; init; }
    public required KvmIrqchip[] Irqchips { get; init; }
    public required KvmPitState2 Pit { get; init; }
    public required KvmClockData Clock { get; init; }
    public required SerialState Serial { get; init; }

    /// <summary>Throws InvalidDataException naming the field, or VmConfigException when this host lacks what the guest was given.</summary>
    public static VmState Decode(ReadOnlySpan<byte> state, int vcpuCount, HostStateLimits host)
    {
        var r = new StateReader(state);
        if (r.U64("magic") != Magic) throw new InvalidDataException("not Ferry VM state (bad magic)");
        uint version = r.U32("version");
        if (version != Version) throw new InvalidDataException($"VM state version {version} is not supported ({Version})");
        uint xsaveSize = r.U32("xsave size");
        if (xsaveSize < 4096 || xsaveSize > 1 << 20) throw new InvalidDataException($"xsave size {xsaveSize} is implausible");
        if (xsaveSize > host.XsaveSize)
            throw new VmConfigException($"the guest's XSAVE area is {xsaveSize} bytes; this host's KVM offers only {host.XsaveSize} (its CPU lacks state the guest uses)");
        uint vcpus = r.U32("vCPU count");
        if (vcpus != vcpuCount) throw new InvalidDataException($"VM state has {vcpus} vCPUs, this VM {vcpuCount}");
        var cpuids = new KvmCpuidEntry2[vcpus][];
        var states = new VcpuState[vcpus];
        var knownMsrs = new HashSet<uint>(host.MsrIndices);
        for (int i = 0; i < vcpus; i++)
        {
            uint entries = r.U32($"vCPU {i} cpuid count");
            if (entries > MaxCpuidEntries) throw new InvalidDataException($"vCPU {i}: cpuid count {entries} is more than KVM takes ({MaxCpuidEntries})");
            cpuids[i] = new KvmCpuidEntry2[entries];
            for (int e = 0; e < entries; e++) cpuids[i][e] = r.Struct<KvmCpuidEntry2>($"vCPU {i} cpuid entry");
            var missing = CpuFeatureCheck.Missing(cpuids[i], host.SupportedCpuid);
            if (missing.Count > 0)
                throw new VmConfigException($"this host's CPU lacks features the guest was given: {string.Join(", ", missing)}");
            states[i] = VcpuState.Read(ref r);
            if (states[i].Xsave.Length != xsaveSize)
                throw new InvalidDataException($"vCPU {i}: xsave is {states[i].Xsave.Length} bytes, the state says {xsaveSize}");
            // KVM reads as many bytes as this host's XSAVE area holds: a smaller area from the
            // source is padded, its header says which components it holds.
            if (xsaveSize < host.XsaveSize) states[i].Xsave = [.. states[i].Xsave, .. new byte[host.XsaveSize - xsaveSize]];
            VcpuStateRules.Check(states[i], $"vCPU {i}", knownMsrs);
        }
        var chips = new KvmIrqchip[3];
        for (int i = 0; i < 3; i++)
        {
            chips[i] = r.Struct<KvmIrqchip>("irqchip");
            uint id = BitConverter.ToUInt32(chips[i][IrqchipFields.ChipId..(IrqchipFields.ChipId + 4)]);
            if (id != i) throw new InvalidDataException($"irqchip {i}: chip_id is {id}");
        }
        var pit = r.Struct<KvmPitState2>("pit");
        VcpuStateRules.CheckPit(pit);
        var clock = r.Struct<KvmClockData>("kvmclock");
        uint serialVersion = r.U32("serial version");
        if (serialVersion != SerialState.Version)
            throw new InvalidDataException($"device serial0: state version {serialVersion} is not supported ({SerialState.Version})");
        var serial = new SerialState(Byte(ref r, "serial ier"), Byte(ref r, "serial lcr"), Byte(ref r, "serial mcr"),
            Byte(ref r, "serial scratch"), (ushort)Bounded(ref r, "serial divisor", 0xffff), Bounded(ref r, "serial thre", 1) != 0,
            r.Blob("serial input").ToArray());
        if (serial.PendingInput.Length > Devices.Serial.Serial.MaxPendingInput)
            throw new InvalidDataException($"serial input: {serial.PendingInput.Length} bytes pending, at most {Devices.Serial.Serial.MaxPendingInput}");
        if (!r.AtEnd) throw new InvalidDataException("VM state has trailing bytes");
        return new VmState { Cpuids = cpuids, Vcpus = states, Irqchips = chips, Pit = pit, Clock = clock, Serial = serial };
    }

    private static byte Byte(ref StateReader r, string what) => (byte)Bounded(ref r, what, 0xff);

    private static uint Bounded(ref StateReader r, string what, uint max)
    {
        uint value = r.U32(what);
        if (value > max) throw new InvalidDataException($"{what} is {value}, at most {max}");
        return value;
    }
}
