namespace Ferry.Vmm.Devices;

/// <summary>A device on the MMIO bus. Called from vCPU threads, so implementations lock their own state.</summary>
public interface IMmioDevice
{
    /// <summary>Fills <paramref name="data"/> (1 to 8 bytes) with what the guest reads at <paramref name="offset"/> into the device's window.</summary>
    void Read(ulong offset, Span<byte> data);

    void Write(ulong offset, ReadOnlySpan<byte> data);
}
