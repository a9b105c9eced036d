namespace Ferry.Vmm.State;

/// <summary>
/// The device part of a version 1 VM state (Ferry before device entries), read as the entries a
/// version 2 state carries. Version 1 wrote the devices' fields one after another, with no ids and
/// no entry lengths: the three irqchips, the PIT and kvmclock as length-prefixed structs, then the UART's
/// record version and its fields to the end. Every device's record version 1 is exactly those
/// bytes, so each entry's payload is a copy of its run and the usual decoding checks it.
/// </summary>
public static class VmStateV1Devices
{
    public static DeviceStateEntries Read(ref StateReader r)
    {
        var devices = new DeviceStateEntries();
        devices.Add(new DeviceStateEntry(DeviceIds.Irqchip, 1, Blobs(ref r, 3, "irqchip")));
        devices.Add(new DeviceStateEntry(DeviceIds.Pit, 1, Blobs(ref r, 1, "pit")));
        devices.Add(new DeviceStateEntry(DeviceIds.KvmClock, 1, Blobs(ref r, 1, "kvmclock")));
        uint serialVersion = r.U32("serial version");
        devices.Add(new DeviceStateEntry(DeviceIds.Serial0, serialVersion, r.Rest().ToArray()));
        return devices;
    }

    /// <summary>The bytes of <paramref name="count"/> length-prefixed blobs, prefixes included.</summary>
    private static byte[] Blobs(ref StateReader r, int count, string what)
    {
        var payload = new StateWriter();
        for (int i = 0; i < count; i++) payload.Blob(r.Blob(what));
        return payload.ToArray();
    }
}
