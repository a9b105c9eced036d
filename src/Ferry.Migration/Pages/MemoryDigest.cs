using System.Buffers.Binary;
using System.IO.Hashing;
using Ferry.Migration.Vm;

namespace Ferry.Migration.Pages;

/// <summary>
/// A digest of a VM's RAM: XXH3 over (gpa, bytes) of every non-zero page, in address order.
/// Zero and never-touched pages are left out, so two VMs with equal memory get equal digests
/// whatever their hosts made resident. Used to prove a migration moved every byte.
/// </summary>
public static class MemoryDigest
{
    public static ulong Compute(IMigratableVm vm)
    {
        var layout = vm.Memory;
        var hash = new XxHash3();
        var page = new byte[layout.PageSize];
        Span<byte> address = stackalloc byte[8];
        foreach (var region in layout.Regions)
        {
            foreach (long p in vm.ResidentPages(region).Pages())
            {
                ulong gpa = region.Gpa + (ulong)p * (ulong)layout.PageSize;
                vm.ReadGuest(gpa, page);
                if (!page.AsSpan().ContainsAnyExcept((byte)0)) continue;
                BinaryPrimitives.WriteUInt64LittleEndian(address, gpa);
                hash.Append(address);
                hash.Append(page);
            }
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>
    /// The digest post-copy checks: XXH3 over (gpa, XXH3 of the page) of every non-zero page in
    /// address order. Its per-page form lets a destination hash each page when it arrives, before
    /// the running guest changes it.
    /// </summary>
    public static ulong ComputeByPage(IMigratableVm vm)
    {
        var layout = vm.Memory;
        var hash = new XxHash3();
        var page = new byte[layout.PageSize];
        foreach (var region in layout.Regions)
            foreach (long p in vm.ResidentPages(region).Pages())
            {
                vm.ReadGuest(region.Gpa + (ulong)p * (ulong)layout.PageSize, page);
                AppendPage(hash, region.Gpa + (ulong)p * (ulong)layout.PageSize, PageHash(page));
            }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>A page's hash for <see cref="ComputeByPage"/>; 0 for a zero page, which the digest leaves out.</summary>
    public static ulong PageHash(ReadOnlySpan<byte> page) => page.ContainsAnyExcept((byte)0) ? XxHash3.HashToUInt64(page) | 1 : 0;

    /// <summary>Adds one page to a <see cref="ComputeByPage"/> digest (a zero page's hash, 0, adds nothing).</summary>
    public static void AppendPage(XxHash3 digest, ulong gpa, ulong pageHash)
    {
        if (pageHash == 0) return;
        Span<byte> entry = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(entry, gpa);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], pageHash);
        digest.Append(entry);
    }
}
