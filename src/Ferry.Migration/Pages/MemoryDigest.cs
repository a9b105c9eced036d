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
}
