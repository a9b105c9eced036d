namespace Ferry.Vmm.Devices;

/// <summary>
/// Routes MMIO exits to devices by guest-physical window. An address no device claims reads as
/// all ones and ignores writes, as an empty bus does on a PC. The windows are fixed before the
/// vCPUs start, so lookups take no lock.
/// </summary>
public sealed class MmioBus
{
    private readonly List<(ulong Gpa, ulong SizeBytes, IMmioDevice Device)> _windows = [];

    public void Add(ulong gpa, ulong sizeBytes, IMmioDevice device)
    {
        if (sizeBytes == 0 || gpa + sizeBytes < gpa) throw new ArgumentOutOfRangeException(nameof(sizeBytes));
        if (_windows.Any(w => gpa < w.Gpa + w.SizeBytes && w.Gpa < gpa + sizeBytes))
            throw new InvalidOperationException($"MMIO window 0x{gpa:x}+0x{sizeBytes:x} overlaps another device");
        _windows.Add((gpa, sizeBytes, device));
    }

    public void Read(ulong gpa, Span<byte> data)
    {
        if (Find(gpa, data.Length) is { } hit) hit.Device.Read(gpa - hit.Gpa, data);
        else data.Fill(0xff);
    }

    public void Write(ulong gpa, ReadOnlySpan<byte> data)
    {
        if (Find(gpa, data.Length) is { } hit) hit.Device.Write(gpa - hit.Gpa, data);
    }

    /// <summary>The window holding the whole access, if any: an access straddling a window's edge goes nowhere.</summary>
    private (ulong Gpa, IMmioDevice Device)? Find(ulong gpa, int length)
    {
        foreach (var (start, size, device) in _windows)
            if (gpa >= start && gpa - start + (ulong)length <= size) return (start, device);
        return null;
    }
}
