using System.Buffers.Binary;
using System.Text;

namespace Ferry.Vmm.Acpi;

/// <summary>Builds one ACPI System Description Table: the 36-byte header, a body, and the checksum that makes all bytes sum to zero.</summary>
public sealed class AcpiTable
{
    public const int HeaderSize = 36;
    public const string OemId = "FERRY ";
    public const string OemTableId = "FERRYVM ";
    private readonly List<byte> _body = [];

    public AcpiTable(string signature, byte revision) { Signature = signature; Revision = revision; }

    public string Signature { get; }
    public byte Revision { get; }

    public AcpiTable Bytes(params ReadOnlySpan<byte> bytes) { foreach (byte b in bytes) _body.Add(b); return this; }
    public AcpiTable U8(byte v) => Bytes(v);
    public AcpiTable U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return Bytes(b); }
    public AcpiTable U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Bytes(b); }
    public AcpiTable U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Bytes(b); }
    public AcpiTable Zeros(int count) { for (int i = 0; i < count; i++) _body.Add(0); return this; }

    /// <summary>A Generic Address Structure (12 bytes).</summary>
    public AcpiTable Gas(GenericAddress gas) => U8(gas.SpaceId).U8(gas.BitWidth).U8(gas.BitOffset).U8(gas.AccessSize).U64(gas.Address);

    public int Length => HeaderSize + _body.Count;

    public byte[] ToArray()
    {
        var table = new byte[Length];
        Encoding.ASCII.GetBytes(Signature, table);
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(4), (uint)table.Length);
        table[8] = Revision;
        Encoding.ASCII.GetBytes(OemId, table.AsSpan(10));
        Encoding.ASCII.GetBytes(OemTableId, table.AsSpan(16));
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(24), 1);     // OEM revision
        Encoding.ASCII.GetBytes("FRRY", table.AsSpan(28));                  // creator id
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(32), 1);     // creator revision
        _body.CopyTo(table, HeaderSize);
        table[9] = Checksum.Complement(table);
        return table;
    }
}
