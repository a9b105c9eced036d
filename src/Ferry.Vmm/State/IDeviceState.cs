namespace Ferry.Vmm.State;

/// <summary>
/// What a device keeps in a saved VM: a record that travels as one entry (id, version, payload)
/// of the VM's state (<see cref="DeviceStateEntry"/>). The record writes its newest encoding
/// and reads every encoding from 1 up to it, so a state an older Ferry saved still restores;
/// an entry newer than <see cref="Version"/> is refused before Read sees it. Raise Version
/// whenever Write changes (a field added, removed or meaning something else): the record's
/// golden-bytes test fails until you do, and Read keeps reading the old encoding.
/// </summary>
public interface IDeviceState<TSelf> where TSelf : IDeviceState<TSelf>
{
    /// <summary>The encoding Write produces and the newest Read accepts; the first is 1.</summary>
    static abstract uint Version { get; }

    void Write(StateWriter payload);

    /// <summary>Reads a payload of <paramref name="version"/> (1 to Version); throws InvalidDataException naming the field.</summary>
    static abstract TSelf Read(uint version, ref StateReader payload);
}
