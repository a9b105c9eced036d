using Ferry.Tests.Shared;

namespace Ferry.Kvm.Tests.Abi;

/// <summary>What probe.c reports about linux/kvm.h on this machine: sizes, offsets and ioctl numbers.</summary>
public static class KernelAbi
{
    private static readonly CProbe Probe = new("Abi/probe.c");

    public static int Size(string cStruct) => (int)Probe.Get("size", cStruct);
    public static int Offset(string cStruct, string field) => (int)Probe.Get("offset", $"{cStruct}.{field}");
    public static ulong Ioctl(string name) => Probe.Get("ioctl", name);
    public static ulong Const(string name) => Probe.Get("const", name);
    public static IEnumerable<string> IoctlNames => Probe.Names("ioctl");
}
