using Ferry.Api;
using Ferry.Kvm;

namespace Ferry.Vmm.Devices.Virtio.Net;

/// <summary>
/// The self-announcement after a live migration: gratuitous RARP frames from the guest's MAC to
/// broadcast, sent from the destination's tap, so bridges and switches learn at once that the
/// MAC now sits behind this port (QEMU announces the same way). Five frames, 50, 150, 250 and
/// 350 ms apart: a frame lost while the link settles is made up by the next.
/// </summary>
public static class NetAnnouncement
{
    public const ushort EtherTypeRarp = 0x8035;
    /// <summary>The gaps before the second, third, ... frame.</summary>
    public static readonly TimeSpan[] Gaps = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(150), TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(350)];
    /// <summary>The minimum Ethernet frame without its FCS.</summary>
    public const int FrameBytes = 60;

    /// <summary>
    /// The frame behind a zero vnet header: broadcast destination, source = the guest, ethertype
    /// RARP, then an RFC 903 "reverse request" (opcode 3) for <paramref name="mac"/> with no IP
    /// addresses, padded to 60 bytes.
    /// </summary>
    public static byte[] Frame(MacAddress mac)
    {
        var f = new byte[TapDevice.VnetHeaderBytes + FrameBytes];
        var e = f.AsSpan(TapDevice.VnetHeaderBytes);
        e[..6].Fill(0xff);
        mac.CopyTo(e[6..]);
        e[12] = EtherTypeRarp >> 8; e[13] = EtherTypeRarp & 0xff;
        e[14] = 0; e[15] = 1;         // hardware type: Ethernet
        e[16] = 0x08; e[17] = 0x00;   // protocol type: IPv4
        e[18] = 6; e[19] = 4;         // address lengths
        e[20] = 0; e[21] = 3;         // opcode: reverse request
        mac.CopyTo(e[22..]);          // sender hardware address; sender IP 0.0.0.0
        mac.CopyTo(e[32..]);          // target hardware address; target IP 0.0.0.0
        return f;
    }

    /// <summary>Sends the frames on the <paramref name="cards"/>' current taps, waiting the gaps on <paramref name="time"/>. Never throws: a tap gone is skipped.</summary>
    public static async Task SendAsync(IReadOnlyList<VirtioNet> cards, TimeProvider time, CancellationToken cancellationToken)
    {
        for (int round = 0; round <= Gaps.Length; round++)
        {
            if (round > 0)
            {
                try { await Task.Delay(Gaps[round - 1], time, cancellationToken); }
                catch (OperationCanceledException) { return; }
            }
            foreach (var card in cards)
            {
                try { card.Tap?.Write(Frame(card.Mac)); }
                catch (ObjectDisposedException) { }
            }
        }
    }
}
