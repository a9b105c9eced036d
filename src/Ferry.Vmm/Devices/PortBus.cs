namespace Ferry.Vmm.Devices;

/// <summary>
/// Routes port I/O exits to devices by port range. Ports with no device read as all ones and
/// ignore writes, as on a PC with nothing plugged in there; guests probe many such ports.
/// </summary>
public sealed class PortBus
{
    private readonly List<(ushort First, ushort Last, IPortDevice Device)> _ranges = [];

    public void Add(ushort first, int count, IPortDevice device)
    {
        ushort last = (ushort)(first + count - 1);
        if (_ranges.Any(r => first <= r.Last && r.First <= last))
            throw new InvalidOperationException($"ports {first:x}-{last:x} overlap another device");
        _ranges.Add((first, last, device));
    }

    /// <summary>
    /// Gives <paramref name="device"/>'s ports to <paramref name="replacement"/>: a device restored
    /// from a saved state takes the live one's place. Only while no vCPU runs: the bus has no lock.
    /// </summary>
    public void Replace(IPortDevice device, IPortDevice replacement)
    {
        bool found = false;
        for (int i = 0; i < _ranges.Count; i++)
        {
            if (!ReferenceEquals(_ranges[i].Device, device)) continue;
            _ranges[i] = _ranges[i] with { Device = replacement };
            found = true;
        }
        if (!found) throw new InvalidOperationException("the device to replace is not on the bus");
    }

    public void Read(ushort port, Span<byte> data)
    {
        var device = Find(port);
        if (device is null) data.Fill(0xff);
        else device.Read(port, data);
    }

    public void Write(ushort port, ReadOnlySpan<byte> data) => Find(port)?.Write(port, data);

    /// <summary>
    /// A string instruction (rep outs): count elements of size bytes. The UART takes a byte
    /// string whole, which is what makes console output cheap; others get one element at a time.
    /// </summary>
    public void WriteString(ushort port, int size, ReadOnlySpan<byte> data)
    {
        var device = Find(port);
        if (device is null) return;
        if (size == 1 && device is Serial.Serial) { device.Write(port, data); return; }
        for (int i = 0; i + size <= data.Length; i += size) device.Write(port, data.Slice(i, size));
    }

    public void ReadString(ushort port, int size, Span<byte> data)
    {
        for (int i = 0; i + size <= data.Length; i += size) Read(port, data.Slice(i, size));
    }

    private IPortDevice? Find(ushort port)
    {
        foreach (var (first, last, device) in _ranges)
            if (port >= first && port <= last) return device;
        return null;
    }
}
