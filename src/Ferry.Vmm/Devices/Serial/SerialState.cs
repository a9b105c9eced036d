using Ferry.Vmm.State;

namespace Ferry.Vmm.Devices.Serial;

/// <summary>
/// What a snapshot keeps of the 16550 UART. Raise Version when a field changes meaning.
/// Version 1 is every register as a u32 (ier, lcr, mcr, scratch, divisor, THR-empty pending as
/// 0 or 1), then the pending input as a length-prefixed blob: the bytes Ferry wrote for the UART
/// before device entries existed, so a version 1 VM state's tail reads as this entry.
/// </summary>
public sealed record SerialState(byte Ier, byte Lcr, byte Mcr, byte Scratch, ushort Divisor, bool ThrEmptyPending, byte[] PendingInput)
    : IDeviceState<SerialState>
{
    public static uint Version => 1;

    public void Write(StateWriter payload)
    {
        payload.U32(Ier); payload.U32(Lcr); payload.U32(Mcr); payload.U32(Scratch); payload.U32(Divisor);
        payload.U32(ThrEmptyPending ? 1u : 0u);
        payload.Blob(PendingInput);
    }

    public static SerialState Read(uint version, ref StateReader payload)
    {
        var state = new SerialState(
            (byte)payload.U32AtMost(0xff, "ier"), (byte)payload.U32AtMost(0xff, "lcr"), (byte)payload.U32AtMost(0xff, "mcr"),
            (byte)payload.U32AtMost(0xff, "scratch"), (ushort)payload.U32AtMost(0xffff, "divisor"),
            payload.U32AtMost(1, "thr empty pending") != 0, payload.Blob("pending input").ToArray());
        if (state.PendingInput.Length > Serial.MaxPendingInput)
            throw new InvalidDataException($"pending input is {state.PendingInput.Length} bytes, at most {Serial.MaxPendingInput}");
        return state;
    }
}
