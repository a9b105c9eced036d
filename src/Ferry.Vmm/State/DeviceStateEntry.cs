namespace Ferry.Vmm.State;

/// <summary>
/// One device's state in a saved VM: which device (<see cref="Id"/>, see <see cref="DeviceIds"/>),
/// which encoding of its record (<see cref="Version"/>), and the encoded record. Each device's
/// record changes on its own: a new field raises that record's version, not the VM state's.
/// </summary>
public sealed record DeviceStateEntry(string Id, uint Version, byte[] Payload)
{
    public static DeviceStateEntry Of<T>(string id, T state) where T : IDeviceState<T>
    {
        var payload = new StateWriter();
        state.Write(payload);
        return new(id, T.Version, payload.ToArray());
    }

    /// <summary>
    /// The device's record. Throws InvalidDataException starting with "device ID: " for a version
    /// this Ferry does not read, a payload too short or too long for its fields, or a field the
    /// record refuses.
    /// </summary>
    public T Decode<T>() where T : IDeviceState<T>
    {
        if (Version == 0) throw Refused("state version 0 is not a version (they start at 1)");
        if (Version > T.Version) throw Refused($"state version {Version} is newer than this ferry supports ({T.Version})");
        var payload = new StateReader(Payload, "the entry");
        T state;
        try { state = T.Read(Version, ref payload); }
        catch (InvalidDataException e) { throw Refused(e.Message); }
        if (!payload.AtEnd) throw Refused($"the entry runs {payload.Remaining} {(payload.Remaining == 1 ? "byte" : "bytes")} past its last field (version {Version})");
        return state;
    }

    private InvalidDataException Refused(string why) => new($"device {Id}: {why}");
}
