namespace Ferry.Vmm.Devices;

/// <summary>An interrupt line into the in-kernel interrupt controller.</summary>
public interface IIrqLine
{
    /// <summary>Raises and lowers the line: one edge-triggered interrupt.</summary>
    void Pulse();
}
