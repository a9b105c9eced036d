using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Ferry.Agent.Vms;

/// <summary>
/// Readies a VM's taps on this host before its VMM starts: a missing tap is created (persistent,
/// brought up, and put on the agent's guest bridge when it has one), and each is given to the
/// VM's jailed user (TUNSETOWNER), since a VMM without CAP_NET_ADMIN may attach only to a tap
/// its own uid owns. The agent knows no KVM code (ArchitectureTests), so the few tun ioctls it
/// needs live here, with their numbers and layout from linux/if_tun.h and linux/if.h.
/// </summary>
public static partial class HostTaps
{
    private const int OpenReadWrite = 2, OpenCloseOnExec = 0x80000;
    private const short IffTap = 0x0002, IffNoPi = 0x1000, IffVnetHdr = 0x4000;
    // _IOW('T', n, int)
    private const nuint TunSetIff = 0x400454ca, TunSetPersist = 0x400454cb, TunSetOwner = 0x400454cc, TunSetGroup = 0x400454ce;
    private const int IfNameSize = 16, IfReqSize = 40;
    private const int EBUSY = 16, EINVAL = 22;

    /// <summary>
    /// Readies <paramref name="tap"/> for a VMM running as <paramref name="owner"/> (null: root, no
    /// jail). A tap attached to another process right now (the source VMM of a migration on this
    /// same host) is left as it is: the VMM gets it once the other lets go, or says why not.
    /// Throws AgentException.
    /// </summary>
    public static void Ready(string tap, int? owner, string? bridge)
    {
        bool existed = Directory.Exists($"/sys/class/net/{tap}");
        if (existed && !File.Exists($"/sys/class/net/{tap}/tun_flags"))
            throw new AgentException($"{tap} exists on this host and is not a tap");
        if (existed && owner is null) return; // root's VMM opens any tap

        int fd = Open("/dev/net/tun", OpenReadWrite | OpenCloseOnExec);
        if (fd < 0) throw new AgentException($"cannot open /dev/net/tun for tap {tap}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        try
        {
            var request = new byte[IfReqSize];
            System.Text.Encoding.ASCII.GetBytes(tap, request.AsSpan(0, IfNameSize - 1));
            BitConverter.TryWriteBytes(request.AsSpan(IfNameSize), (short)(IffTap | IffNoPi | IffVnetHdr));
            if (Ioctl(fd, TunSetIff, request) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EBUSY) return;
                if (errno == EINVAL) throw new AgentException($"{tap} exists on this host and is not a tap (or is a multi-queue one)");
                throw new AgentException($"cannot attach to tap {tap}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
            if (!existed) Check(Ioctl(fd, TunSetPersist, 1), tap, "keep");
            if (owner is int uid)
            {
                Check(Ioctl(fd, TunSetOwner, uid), tap, "give");
                Check(Ioctl(fd, TunSetGroup, uid), tap, "give");
            }
        }
        finally { Close(fd); }
        // One ip for both: each is a process start on the VMM's start path.
        if (!existed) Ip(tap, bridge is null ? ["link", "set", "dev", tap, "up"] : ["link", "set", "dev", tap, "up", "master", bridge]);
    }

    private static void Check(int result, string tap, string what)
    {
        if (result != 0) throw new AgentException($"cannot {what} tap {tap}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    private static void Ip(string tap, string[] args)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start) ?? throw new AgentException("cannot run ip (iproute2)");
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new AgentException($"tap {tap}: ip {string.Join(' ', args)}: {error.Trim()}");
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, byte[] argument);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, nint value);
}
