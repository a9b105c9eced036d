using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ferry.Kvm.Structs;

/// <summary>
/// struct ifreq of linux/if.h, as TUNSETIFF uses it: the interface name (IFNAMSIZ bytes, NUL
/// terminated) and ifr_flags (a short at the start of the 24-byte union).
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 40)]
public struct IfReq
{
    /// <summary>IFNAMSIZ: 15 characters and the NUL.</summary>
    public const int NameSize = 16;
    public IfName Name;
    public short Flags;
}

/// <summary>ifr_name: IFNAMSIZ bytes.</summary>
[InlineArray(IfReq.NameSize)]
public struct IfName { private byte _element0; }
