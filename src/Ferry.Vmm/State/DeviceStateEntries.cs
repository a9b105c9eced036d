using System.Text;

namespace Ferry.Vmm.State;

/// <summary>
/// The device part of a saved VM: one entry per device, in the order written.
/// <code>
/// u32 count, then per entry: u32 id length | id (ASCII) | u32 version | u32 payload length | payload
/// </code>
/// Reading refuses an id that is not one (<see cref="DeviceIds.IsValid"/>) and a device saved
/// twice; <see cref="Take{T}"/> then decodes each device the VM has, refusing one that is
/// missing, and <see cref="EnsureAllTaken"/> refuses entries of devices the VM does not have.
/// </summary>
public sealed class DeviceStateEntries
{
    /// <summary>Far more devices than a VM has: a count beyond it is damage, not a VM.</summary>
    public const int MaxCount = 64;

    private readonly List<DeviceStateEntry> _entries = [];
    private readonly HashSet<string> _taken = [];

    public IReadOnlyList<DeviceStateEntry> All => _entries;

    public void Add(DeviceStateEntry entry)
    {
        if (!DeviceIds.IsValid(entry.Id)) throw new ArgumentException($"device id {entry.Id} is not 1 to {DeviceIds.MaxLength} of a-z, 0-9 and '-'", nameof(entry));
        if (Find(entry.Id) is not null) throw new ArgumentException($"device {entry.Id} is already saved", nameof(entry));
        _entries.Add(entry);
    }

    public void Add<T>(string id, T state) where T : IDeviceState<T> => Add(DeviceStateEntry.Of(id, state));

    public void Write(StateWriter w)
    {
        w.U32((uint)_entries.Count);
        foreach (var entry in _entries)
        {
            w.Blob(Encoding.ASCII.GetBytes(entry.Id));
            w.U32(entry.Version);
            w.Blob(entry.Payload);
        }
    }

    /// <summary>Reads the entries' framing; each payload is decoded later, by <see cref="Take{T}"/>.</summary>
    public static DeviceStateEntries Read(ref StateReader r)
    {
        uint count = r.U32("device count");
        if (count > MaxCount) throw new InvalidDataException($"device count {count} is more than {MaxCount}");
        var entries = new DeviceStateEntries();
        for (int i = 0; i < count; i++)
        {
            var idBytes = r.Blob($"device {i}'s id");
            // Latin-1 maps every byte to one character, so a hostile id is shown escaped, never decoded into something else.
            string id = Encoding.Latin1.GetString(idBytes[..Math.Min(idBytes.Length, DeviceIds.MaxLength + 1)]);
            if (idBytes.Length > DeviceIds.MaxLength || !DeviceIds.IsValid(id))
                throw new InvalidDataException($"device {i}'s id {VmName.Printable(id)} is not a device id (1 to {DeviceIds.MaxLength} of a-z, 0-9 and '-')");
            uint version = r.U32($"device {id}'s version");
            var payload = r.Blob($"device {id}'s payload");
            if (entries.Find(id) is not null) throw new InvalidDataException($"device {id}: saved twice");
            entries._entries.Add(new DeviceStateEntry(id, version, payload.ToArray()));
        }
        return entries;
    }

    /// <summary>The record of device <paramref name="id"/>, which this VM has; throws InvalidDataException naming the device.</summary>
    public T Take<T>(string id) where T : IDeviceState<T>
    {
        var entry = Find(id) ?? throw new InvalidDataException($"device {id}: missing from the state");
        _taken.Add(id);
        return entry.Decode<T>();
    }

    /// <summary>Refuses the state if it holds a device that <see cref="Take{T}"/> was not asked for: one this VM does not have.</summary>
    public void EnsureAllTaken()
    {
        foreach (var entry in _entries)
            if (!_taken.Contains(entry.Id)) throw new InvalidDataException($"device {entry.Id}: this VM has no such device");
    }

    private DeviceStateEntry? Find(string id) => _entries.Find(e => e.Id == id);
}
