namespace Ferry.Vmm.Boot;

/// <summary>How a kernel file is entered.</summary>
public enum KernelFormat
{
    /// <summary>An ELF with a Xen PVH note: 32-bit protected-mode entry with hvm_start_info (the test guest, Linux's vmlinux).</summary>
    PvhElf,
    /// <summary>A Linux bzImage: the x86 64-bit boot protocol with boot_params.</summary>
    BzImage,
}
