namespace Ferry.Migration.Vm;

/// <summary>
/// What the migration engine needs from a VM, and nothing more. The KVM VM (Ferry.Vmm) and the
/// tests' simulated VM implement it, so the engine never sees KVM. No member has a default body:
/// a VM that forgets one should fail to compile.
/// </summary>
public interface IMigratableVm
{
    /// <summary>
    /// What a destination needs to create a matching VM (vCPUs, memory size, ...), opaque to the
    /// engine; the receiving side's VM factory reads it.
    /// </summary>
    ReadOnlyMemory<byte> Configuration { get; }

    /// <summary>Guest RAM: regions of guest-physical addresses and the page size.</summary>
    GuestMemoryLayout Memory { get; }

    void ReadGuest(ulong gpa, Span<byte> destination);

    void WriteGuest(ulong gpa, ReadOnlySpan<byte> source);

    /// <summary>
    /// Guest RAM at [gpa, gpa + length) itself, not a copy, inside one region: the engine receives
    /// pages straight into it and sends a paused VM's pages straight from it. <paramref name="toFill"/>
    /// says the caller will overwrite all of it, so the VM may populate the range in one go.
    /// </summary>
    Memory<byte> GuestRam(ulong gpa, int length, bool toFill);

    /// <summary>Starts dirty-page tracking of all guest RAM; disposing the log stops it.</summary>
    IDirtyLog StartDirtyLog();

    /// <summary>Pages of a region that the host holds in RAM (ever touched). The rest read as zero and need no reading.</summary>
    PageSet ResidentPages(MemoryRegion region);

    /// <summary>Slows the vCPUs to let a live migration converge: each spends <paramref name="percent"/> % of its time stopped (0 = full speed).</summary>
    void SetThrottle(int percent);

    /// <summary>Returns once no vCPU runs guest code.</summary>
    Task PauseAsync(CancellationToken cancellationToken);

    Task ResumeAsync(CancellationToken cancellationToken);

    /// <summary>Everything but guest RAM (vCPUs, in-kernel and Ferry devices, boot tables), as one blob. The VM is paused.</summary>
    byte[] SaveState();

    /// <summary>Loads what SaveState produced, into a VM created with the same configuration and still paused.</summary>
    void LoadState(ReadOnlySpan<byte> state);
}
