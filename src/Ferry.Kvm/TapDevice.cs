using System.Runtime.InteropServices;
using System.Text;
using Ferry.Kvm.Interop;
using Ferry.Kvm.Structs;

namespace Ferry.Kvm;

/// <summary>
/// An owned file descriptor of /dev/net/tun attached to a tap interface (Documentation/networking/tuntap.rst):
/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, so every read returns and every write takes one Ethernet
/// frame behind a 12-byte virtio_net_hdr (TUNSETVNETHDRSZ 12, the virtio 1.x header). Non-blocking,
/// close-on-exec. Attaches to an existing tap of that name or creates one (which then goes away
/// with the descriptor). Closed exactly once.
/// </summary>
public sealed unsafe class TapDevice : SafeHandle
{
    public const string CloneDevice = "/dev/net/tun";
    /// <summary>IFF_TAP, IFF_NO_PI, IFF_VNET_HDR of linux/if_tun.h.</summary>
    public const short IffTap = 0x0002, IffNoPi = 0x1000, IffVnetHdr = 0x4000;
    /// <summary>TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_TSO_ECN of linux/if_tun.h: what this side can take from the tap.</summary>
    public const uint OffloadCsum = 0x01, OffloadTso4 = 0x02, OffloadTso6 = 0x04, OffloadTsoEcn = 0x08;
    /// <summary>The vnet header in front of each frame: struct virtio_net_hdr_v1 (virtio_net_hdr_mrg_rxbuf's size).</summary>
    public const int VnetHeaderBytes = 12;
    /// <summary>IFNAMSIZ - 1.</summary>
    public const int MaxNameLength = IfReq.NameSize - 1;

    private TapDevice(string name) : base(-1, ownsHandle: true) => Name = name;

    public string Name { get; }

    public override bool IsInvalid => handle == -1;

    /// <summary>Whether <paramref name="name"/> can name an interface: 1 to 15 bytes, no '/', ':', whitespace or control characters.</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= MaxNameLength && name != "." && name != ".."
        && name.All(c => c is > ' ' and <= '~' and not '/' and not ':');

    /// <summary>
    /// Opens /dev/net/tun and attaches to tap <paramref name="name"/>, creating it if it does not
    /// exist. Throws KvmException: "open" (no /dev/net/tun), "TUNSETIFF" with EPERM (no such tap and
    /// no right to create it, or a tap owned by another user), EBUSY (another process has it),
    /// EINVAL (an interface of that name that is not a tap like this).
    /// </summary>
    public static TapDevice Open(string name)
    {
        if (!IsValidName(name)) throw new ArgumentException($"{name} is not an interface name", nameof(name));
        var tap = new TapDevice(name);
        int fd = LibC.Open(CloneDevice, LibC.O_RDWR | LibC.O_NONBLOCK | LibC.O_CLOEXEC);
        if (fd < 0) throw new KvmException("open", Marshal.GetLastPInvokeError(), CloneDevice);
        tap.SetHandle(fd);
        try
        {
            var request = new IfReq { Flags = IffTap | IffNoPi | IffVnetHdr };
            Encoding.ASCII.GetBytes(name, request.Name);
            // Safe because request is a local struct ifreq of the kernel's size, which TUNSETIFF reads and writes.
            if (LibC.Ioctl(tap, TunIoctls.TUNSETIFF, &request) != 0) throw new KvmException("TUNSETIFF", Marshal.GetLastPInvokeError());
            int headerBytes = VnetHeaderBytes;
            // Safe because headerBytes is a local int, what TUNSETVNETHDRSZ reads.
            if (LibC.Ioctl(tap, TunIoctls.TUNSETVNETHDRSZ, &headerBytes) != 0) throw new KvmException("TUNSETVNETHDRSZ", Marshal.GetLastPInvokeError());
            SetOffload(tap, 0);
            return tap;
        }
        catch
        {
            tap.Dispose();
            throw;
        }
    }

    /// <summary>
    /// TUNSETOFFLOAD: which offloads frames read from the tap may use (partial checksums, TSO),
    /// as <see cref="OffloadCsum"/> etc. Only what the guest negotiated: with 0 every frame is
    /// whole and fully checksummed.
    /// </summary>
    public void SetOffload(uint offloads) => SetOffload(this, offloads);

    private static void SetOffload(TapDevice tap, uint offloads)
    {
        // TUNSETOFFLOAD takes its argument by value, not by pointer.
        if (LibC.Ioctl(tap, TunIoctls.TUNSETOFFLOAD, (nuint)offloads) != 0) throw new KvmException("TUNSETOFFLOAD", Marshal.GetLastPInvokeError());
    }

    /// <summary>
    /// Reads one frame (vnet header included) into <paramref name="buffer"/>; returns its length,
    /// or 0 when no frame waits. A frame longer than the buffer is cut short by the kernel.
    /// </summary>
    public int Read(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                // Safe because p points to buffer.Length bytes pinned for the call.
                nint n = LibC.Read(this, p, (nuint)buffer.Length);
                if (n >= 0) return (int)n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == LibC.EAGAIN) return 0;
                if (errno != LibC.EINTR) throw new KvmException("read(tap)", errno);
            }
        }
    }

    /// <summary>
    /// Writes one frame (vnet header included). Returns false when the kernel refused it (the
    /// interface is down, a malformed header, no memory): the frame is lost, as on a wire.
    /// </summary>
    public bool Write(ReadOnlySpan<byte> frame)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                // Safe because p points to frame.Length bytes pinned for the call.
                nint n = LibC.Write(this, p, (nuint)frame.Length);
                if (n >= 0) return true;
                int errno = Marshal.GetLastPInvokeError();
                if (errno != LibC.EINTR) return false;
            }
        }
    }

    protected override bool ReleaseHandle() => LibC.Close(handle) == 0;
}
