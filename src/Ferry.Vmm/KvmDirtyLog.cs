using Ferry.Kvm;
using Ferry.Migration.Vm;
using Ferry.Vmm.Memory;

namespace Ferry.Vmm;

/// <summary>
/// KVM's dirty log over every RAM slot. KVM_GET_DIRTY_LOG returns the pages written since the
/// last call and write-protects them again in one step. KVM logs only vCPU writes; the pages
/// Ferry's virtio devices wrote (<see cref="DeviceWriteLog"/>) are added to each collection.
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
        memory.DeviceWrites.Enable();
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
            _memory.DeviceWrites.CollectInto(slot, set);
            sets.Add(set);
        }
        return sets;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _memory.DeviceWrites.Disable();
        _memory.RegisterSlots(_vm, logDirtyPages: false);
    }
}
