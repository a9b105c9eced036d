using Ferry.Kvm;
using Ferry.Migration.Vm;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>
/// KVM's dirty log over every RAM slot. KVM_GET_DIRTY_LOG returns the pages written since the
/// last call and write-protects them again in one step. KVM logs only vCPU writes; Ferry's
/// devices do not write guest RAM yet, so the bitmap is the whole dirty set.
/// </summary>
public sealed class KvmDirtyLog : IDirtyLog
{
    private readonly VmFd _vm;
    private readonly GuestMemory _memory;
    private bool _disposed;

    public KvmDirtyLog(VmFd vm, GuestMemory memory)
    {
        _vm = vm;
        _memory = memory;
        memory.RegisterSlots(vm, logDirtyPages: true);
    }

    public IReadOnlyList<PageSet> Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var sets = new List<PageSet>();
        for (int slot = 0; slot < _memory.Map.Regions.Count; slot++)
        {
            var set = new PageSet(_memory.Map.Regions[slot], HostMemory.PageSize);
            _vm.GetDirtyLog((uint)slot, set.Bits);
            sets.Add(set);
        }
        return sets;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.RegisterSlots(_vm, logDirtyPages: false);
    }
}
