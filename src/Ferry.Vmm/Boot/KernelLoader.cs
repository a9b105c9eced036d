using System.Text;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm.Boot;

/// <summary>Where the loader put things, and how the boot vCPU starts.</summary>
public sealed record LoadedKernel(KernelFormat Format, ulong Entry, ulong KernelEnd, ulong InitrdAddress, ulong InitrdSize);

/// <summary>
/// Copies a kernel, its initrd and the boot structures for its protocol into guest memory:
/// PVH (start_info, memmap, module list) or Linux 64-bit (boot_params, identity page tables).
/// </summary>
public static class KernelLoader
{
    public static LoadedKernel Load(GuestMemory memory, byte[] kernel, string kernelName, InitrdFile? initrd, string commandLine, ulong rsdpAddress)
    {
        var e820 = E820Map.For(memory.Map);
        byte[] cmdline = Encoding.UTF8.GetBytes(commandLine + "\0");
        if (cmdline.Length > BootLayout.CommandLineCapacity)
            throw new VmConfigException($"the command line is longer than {BootLayout.CommandLineCapacity - 1} bytes");
        memory.Write(BootLayout.CommandLine, cmdline);

        if (PvhElfKernel.LooksLikeElf(kernel))
        {
            var elf = PvhElfKernel.Parse(kernel, kernelName);
            WriteGdt(memory, longMode: false);
            foreach (var segment in elf.Segments)
            {
                if (segment.PhysicalAddress < BootLayout.HighMemoryStart || segment.PhysicalAddress + segment.MemorySize > memory.Map.LowRamEnd)
                    throw new VmConfigException($"{kernelName}: segment at 0x{segment.PhysicalAddress:x} does not fit in guest RAM");
                memory.Write(segment.PhysicalAddress, kernel.AsSpan((int)segment.FileOffset, (int)segment.FileSize));
            }
            var (initrdAt, initrdSize) = PlaceInitrd(memory, initrd, elf.EndAddress, memory.Map.LowRamEnd);
            foreach (var (gpa, bytes) in HvmStartInfo.Build(BootLayout.CommandLine, rsdpAddress,
                         initrd is null ? null : (initrdAt, initrdSize), e820))
                memory.Write(gpa, bytes);
            return new LoadedKernel(KernelFormat.PvhElf, elf.Entry, elf.EndAddress, initrdAt, initrdSize);
        }
        if (BzImage.LooksLikeBzImage(kernel))
        {
            var bz = BzImage.Parse(kernel, kernelName);
            WriteGdt(memory, longMode: true);
            ulong loadAt = bz.LoadAddress;
            ulong kernelEnd = loadAt + Math.Max((ulong)(kernel.Length - bz.KernelOffset), bz.InitSize);
            if (kernelEnd > memory.Map.LowRamEnd) throw new VmConfigException($"{kernelName}: kernel does not fit in guest RAM");
            if (cmdline.Length > bz.CmdlineSize + 1 && bz.CmdlineSize > 0)
                throw new VmConfigException($"the command line is longer than this kernel accepts ({bz.CmdlineSize} bytes)");
            memory.Write(loadAt, kernel.AsSpan(bz.KernelOffset));
            ulong initrdLimit = Math.Min(memory.Map.LowRamEnd, (ulong)bz.InitrdAddrMax + 1);
            var (initrdAt, initrdSize) = PlaceInitrd(memory, initrd, kernelEnd, initrdLimit);
            memory.Write(BootLayout.ZeroPage, BootParams.Build(kernel, BootLayout.CommandLine, initrdAt, initrdSize, e820, rsdpAddress));
            foreach (var (gpa, bytes) in Cpu.BootCpuState.IdentityPageTables()) memory.Write(gpa, bytes);
            return new LoadedKernel(KernelFormat.BzImage, loadAt + 0x200, kernelEnd, initrdAt, initrdSize);
        }
        throw new VmConfigException($"{kernelName}: neither an ELF kernel with a PVH note nor a Linux bzImage");
    }

    /// <summary>The initrd goes as high as it can below <paramref name="limit"/>, page aligned, clear of the kernel.</summary>
    private static (ulong Address, ulong Size) PlaceInitrd(GuestMemory memory, InitrdFile? initrd, ulong kernelEnd, ulong limit)
    {
        if (initrd is null || initrd.Length == 0) return (0, 0);
        ulong size = (ulong)initrd.Length;
        ulong address = size > limit ? 0 : (limit - size) & ~0xfffUL;
        if (size > limit || address < kernelEnd)
            throw new VmConfigException(
                $"initrd ({size >> 20} MiB) does not fit in guest RAM below 0x{limit:x} above the kernel; give the VM more --memory");
        if (size > int.MaxValue) throw new VmConfigException($"initrd {initrd.Path} is larger than 2 GiB");
        initrd.ReadInto(memory.Span(address, (int)size));
        return (address, size);
    }

    private static void WriteGdt(GuestMemory memory, bool longMode)
    {
        var gdt = Cpu.BootCpuState.GdtEntries(longMode);
        var bytes = new byte[gdt.Length * 8];
        for (int i = 0; i < gdt.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), gdt[i]);
        memory.Write(BootLayout.Gdt, bytes);
    }
}
