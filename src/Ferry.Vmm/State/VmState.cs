using Ferry.Kvm.Structs;
using Ferry.Vmm.Cpu;
using Ferry.Vmm.Devices.InKernel;
using Ferry.Vmm.Devices.Serial;
using Ferry.Vmm.Devices.Virtio.Blk;
using Ferry.Vmm.Devices.Virtio.Net;

namespace Ferry.Vmm.State;

/// <summary>
/// A VM's saved state, the payload of an image's device state section: the vCPU part, then one
/// entry per device (<see cref="DeviceStateEntries"/>), each device's record versioned on its own.
/// <code>
/// u64 magic "FRRYSTAT" | u32 version (2) | u32 XSAVE size | u32 vCPU count
/// per vCPU: u32 CPUID entry count | kvm_cpuid_entry2 blobs | VcpuState
/// device entries: irqchip, pit, kvmclock, serial0, then virtio-blk0... one per disk, virtio-net0... one per network card
/// </code>
/// Version 1, which Ferry wrote before device entries, ended in the same devices' fields without
/// a count, ids or entry lengths; it is still read (<see cref="VmStateV1Devices"/>), so a snapshot or a migration
/// from that Ferry restores here. A newer version is refused whole.
/// Decoding checks everything before any of it reaches KVM: a state from a peer or a file that
/// KVM would refuse, or that would make it read past a buffer, is refused with the field named.
/// Decoding needs no VM, so the fuzz targets run it alone.
/// </summary>
public sealed class VmState
{
    public const ulong Magic = 0x5441_5453_5952_5246; // "FRRYSTAT"
    public const uint Version = 2;
    /// <summary>KVM_MAX_CPUID_ENTRIES.</summary>
    public const int MaxCpuidEntries = 256;
    /// <summary>How every refusal of a saved state begins: the image section it came in.</summary>
    public const string Section = "the device state section";

    /// <summary>The size of every vCPU's XSAVE blob.</summary>
    public required int XsaveSize { get; init; }
    public required KvmCpuidEntry2[][] Cpuids { get; init; }
    public required VcpuState[] Vcpus { get; init; }
    public required IrqchipState Irqchip { get; init; }
    public required PitState Pit { get; init; }
    public required KvmClockState Clock { get; init; }
    public required SerialState Serial { get; init; }
    /// <summary>One per disk, in device order.</summary>
    public VirtioBlkState[] Disks { get; init; } = [];
    /// <summary>One per network card, in device order.</summary>
    public VirtioNetState[] Nets { get; init; } = [];

    public byte[] Encode()
    {
        var w = new StateWriter();
        w.U64(Magic);
        w.U32(Version);
        w.U32((uint)XsaveSize);
        w.U32((uint)Vcpus.Length);
        for (int i = 0; i < Vcpus.Length; i++)
        {
            w.U32((uint)Cpuids[i].Length);
            foreach (var entry in Cpuids[i]) w.Struct(entry);
            Vcpus[i].Write(w);
        }
        var devices = new DeviceStateEntries();
        devices.Add(DeviceIds.Irqchip, Irqchip);
        devices.Add(DeviceIds.Pit, Pit);
        devices.Add(DeviceIds.KvmClock, Clock);
        devices.Add(DeviceIds.Serial0, Serial);
        for (int i = 0; i < Disks.Length; i++) devices.Add(DeviceIds.VirtioBlk(i), Disks[i]);
        for (int i = 0; i < Nets.Length; i++) devices.Add(DeviceIds.VirtioNet(i), Nets[i]);
        devices.Write(w);
        return w.ToArray();
    }

    /// <summary>
    /// Throws InvalidDataException starting with "the device state section: " and naming the
    /// field, or VmConfigException when this host lacks what the guest was given.
    /// </summary>
    public static VmState Decode(ReadOnlySpan<byte> state, int vcpuCount, HostStateLimits host, int diskCount = 0, int netCount = 0)
    {
        try { return DecodeUnprefixed(state, vcpuCount, host, diskCount, netCount); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{Section}: {e.Message}"); }
    }

    private static VmState DecodeUnprefixed(ReadOnlySpan<byte> state, int vcpuCount, HostStateLimits host, int diskCount, int netCount)
    {
        var r = new StateReader(state);
        if (r.U64("magic") != Magic) throw new InvalidDataException("not Ferry VM state (bad magic)");
        uint version = r.U32("version");
        if (version is 0 or > Version) throw new InvalidDataException($"VM state version {version} is not supported (1 to {Version})");
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
        var devices = version == 1 ? VmStateV1Devices.Read(ref r) : DeviceStateEntries.Read(ref r);
        if (!r.AtEnd) throw new InvalidDataException("VM state has trailing bytes");
        var decoded = new VmState
        {
            XsaveSize = host.XsaveSize, // every blob is padded to it above
            Cpuids = cpuids,
            Vcpus = states,
            Irqchip = devices.Take<IrqchipState>(DeviceIds.Irqchip),
            Pit = devices.Take<PitState>(DeviceIds.Pit),
            Clock = devices.Take<KvmClockState>(DeviceIds.KvmClock),
            Serial = devices.Take<SerialState>(DeviceIds.Serial0),
            Disks = [.. Enumerable.Range(0, diskCount).Select(i => devices.Take<VirtioBlkState>(DeviceIds.VirtioBlk(i)))],
            Nets = [.. Enumerable.Range(0, netCount).Select(i => devices.Take<VirtioNetState>(DeviceIds.VirtioNet(i)))],
        };
        devices.EnsureAllTaken();
        return decoded;
    }
}
