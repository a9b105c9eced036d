using System.Runtime.InteropServices;

namespace Ferry.Vmm.Tests.Infrastructure;

/// <summary>Kernel structs for tests: all zeros but the bytes given, at their offsets.</summary>
public static class StructBytes
{
    public static T Of<T>(params (int At, byte Value)[] bytes) where T : unmanaged
    {
        var raw = new byte[Marshal.SizeOf<T>()];
        foreach (var (at, value) in bytes) raw[at] = value;
        return MemoryMarshal.Read<T>(raw);
    }

    public static byte[] Bytes<T>(T value) where T : unmanaged => MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();
}
