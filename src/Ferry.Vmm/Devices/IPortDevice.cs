namespace Ferry.Vmm.Devices;

/// <summary>A device on the x86 I/O-port bus. Called from vCPU threads, so implementations lock their own state.</summary>
public interface IPortDevice
{
    /// <summary>Fills <paramref name="data"/> (1, 2 or 4 bytes) with what the guest reads at <paramref name="port"/>.</summary>
    void Read(ushort port, Span<byte> data);

    void Write(ushort port, ReadOnlySpan<byte> data);
}
