namespace Ferry.Vmm.Devices.Serial;

/// <summary>
/// A 16550A UART at COM1 (0x3f8, IRQ 4): the guest's console. Output bytes go to a sink as
/// they are written (a `rep outsb` arrives as one exit with many bytes); input bytes are queued
/// and announced with an interrupt when the guest enabled it. The transmitter is always ready,
/// so LSR reports THRE and TEMT at once.
/// </summary>
public sealed class Serial : IPortDevice
{
    public const ushort Com1 = 0x3f8;
    public const uint Com1Gsi = 4;
    private const byte IerReceivedData = 1, IerThrEmpty = 2;
    private const byte IirNone = 1, IirThrEmpty = 2, IirReceivedData = 4, IirFifoEnabled = 0xc0;
    private const byte LcrDlab = 0x80;
    private const byte LsrDataReady = 1, LsrThrEmpty = 0x20, LsrTransmitterEmpty = 0x40;
    private const byte MsrCtsDsrDcd = 0xb0;
    public const int MaxPendingInput = 4096;

    private readonly object _lock = new();
    private readonly Queue<byte> _input = new();
    private readonly IIrqLine _irq;
    private readonly Action<ReadOnlySpan<byte>> _output;
    private byte _ier, _lcr, _mcr, _scratch;
    private ushort _divisor = 12; // 9600 baud, what firmware leaves behind
    private bool _thrEmptyPending;

    public Serial(IIrqLine irq, Action<ReadOnlySpan<byte>> output) { _irq = irq; _output = output; }

    public SerialState Save()
    {
        lock (_lock) return new(_ier, _lcr, _mcr, _scratch, _divisor, _thrEmptyPending, [.. _input]);
    }

    /// <summary>A new UART in the saved state, on <paramref name="irq"/> and writing to <paramref name="output"/>; the VM puts it where the old one was.</summary>
    public static Serial Restore(SerialState state, IIrqLine irq, Action<ReadOnlySpan<byte>> output)
    {
        var serial = new Serial(irq, output)
        {
            _ier = state.Ier, _lcr = state.Lcr, _mcr = state.Mcr, _scratch = state.Scratch,
            _divisor = state.Divisor, _thrEmptyPending = state.ThrEmptyPending,
        };
        foreach (byte b in state.PendingInput) serial._input.Enqueue(b);
        return serial;
    }

    /// <summary>Queues keyboard input for the guest (dropped beyond 4 KiB, as a real FIFO overruns).</summary>
    public void Enqueue(ReadOnlySpan<byte> bytes)
    {
        bool interrupt;
        lock (_lock)
        {
            foreach (byte b in bytes)
                if (_input.Count < MaxPendingInput) _input.Enqueue(b);
            interrupt = (_ier & IerReceivedData) != 0;
        }
        if (interrupt) _irq.Pulse();
    }

    public void Read(ushort port, Span<byte> data)
    {
        data.Fill(0);
        bool interrupt = false;
        lock (_lock)
        {
            bool dlab = (_lcr & LcrDlab) != 0;
            data[0] = (port - Com1) switch
            {
                0 when dlab => (byte)_divisor,
                0 => ReceiveByte(out interrupt),
                1 when dlab => (byte)(_divisor >> 8),
                1 => _ier,
                2 => InterruptIdentification(),
                3 => _lcr,
                4 => _mcr,
                5 => (byte)(LsrThrEmpty | LsrTransmitterEmpty | (_input.Count > 0 ? LsrDataReady : 0)),
                6 => MsrCtsDsrDcd,
                _ => _scratch,
            };
        }
        if (interrupt) _irq.Pulse();
    }

    public void Write(ushort port, ReadOnlySpan<byte> data)
    {
        int offset = port - Com1;
        if (offset == 0 && (_lcr & LcrDlab) == 0)
        {
            // Transmit: the whole buffer of a string instruction at once.
            _output(data);
            bool interrupt;
            lock (_lock)
            {
                _thrEmptyPending = true;
                interrupt = (_ier & IerThrEmpty) != 0;
            }
            if (interrupt) _irq.Pulse();
            return;
        }
        bool raise = false;
        lock (_lock)
        {
            byte value = data[0];
            switch (offset)
            {
                case 0: _divisor = (ushort)((_divisor & 0xff00) | value); break;
                case 1 when (_lcr & LcrDlab) != 0: _divisor = (ushort)((_divisor & 0x00ff) | (value << 8)); break;
                case 1:
                    // Enabling the THR-empty interrupt raises it at once: the transmitter is idle.
                    if ((value & IerThrEmpty) != 0 && (_ier & IerThrEmpty) == 0) _thrEmptyPending = true;
                    _ier = (byte)(value & 0x0f);
                    raise = ((_ier & IerReceivedData) != 0 && _input.Count > 0) || ((_ier & IerThrEmpty) != 0 && _thrEmptyPending);
                    break;
                case 2: break; // FCR: FIFOs are always on
                case 3: _lcr = value; break;
                case 4: _mcr = value; break;
                case 7: _scratch = value; break;
            }
        }
        if (raise) _irq.Pulse();
    }

    private byte ReceiveByte(out bool moreToSignal)
    {
        byte b = _input.Count > 0 ? _input.Dequeue() : (byte)0;
        moreToSignal = _input.Count > 0 && (_ier & IerReceivedData) != 0;
        return b;
    }

    private byte InterruptIdentification()
    {
        if ((_ier & IerReceivedData) != 0 && _input.Count > 0) return IirReceivedData | IirFifoEnabled;
        if ((_ier & IerThrEmpty) != 0 && _thrEmptyPending)
        {
            _thrEmptyPending = false; // reading IIR acknowledges THR empty
            return IirThrEmpty | IirFifoEnabled;
        }
        return IirNone | IirFifoEnabled;
    }
}
