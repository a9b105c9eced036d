using Ferry.Api;
using Ferry.Kvm;
using Ferry.Vmm.Devices.Virtio.Net;

namespace Ferry.Vmm;

/// <summary>
/// One `--net tap=NAME[,mac=MAC]`: a virtio-net card on tap NAME. <see cref="Mac"/> (aa:bb:cc:dd:ee:ff)
/// is generated when none is given and then kept in the VM's configuration, so a snapshot or a
/// migration carries it: the guest keeps its address wherever it runs.
/// </summary>
public sealed record NetConfig(string Tap, string Mac)
{
    private const string Usage = "write --net tap=NAME[,mac=MAC]";

    /// <summary>Parses the option's value. Throws VmConfigException.</summary>
    public static NetConfig Parse(string spec)
    {
        string? tap = null, mac = null;
        foreach (var option in spec.Split(','))
        {
            if (option.StartsWith("tap=", StringComparison.Ordinal)) tap = option[4..];
            else if (option.StartsWith("mac=", StringComparison.Ordinal)) mac = option[4..];
            else throw new VmConfigException($"--net {VmName.Printable(spec)}: unknown option {VmName.Printable(option)} ({Usage})");
        }
        if (tap is null) throw new VmConfigException($"--net {VmName.Printable(spec)}: no tap ({Usage})");
        if (!IsValidTap(tap)) throw new VmConfigException($"--net {VmName.Printable(spec)}: {TapRule}");
        if (mac is null) return new NetConfig(tap, MacAddress.Generate().ToString());
        if (!MacAddress.TryParse(mac, out var parsed)) throw new VmConfigException($"--net {VmName.Printable(spec)}: mac {VmName.Printable(mac)} is not a MAC address (six hex pairs: 52:54:00:12:34:56)");
        if (!parsed.IsUsableByCard) throw new VmConfigException($"--net {VmName.Printable(spec)}: mac {parsed} is a {(parsed.Value == 0 ? "null" : "multicast")} address; a card needs a unicast one");
        return new NetConfig(tap, parsed.ToString());
    }

    public const string TapRule = "a tap name is 1 to 15 characters, no '/', ':', ',' or spaces";

    public static bool IsValidTap(string? tap) => tap is not null && TapDevice.IsValidName(tap) && !tap.Contains(',') && !tap.Contains('=');

    /// <summary>The MAC as the device takes it; the configuration was validated.</summary>
    public MacAddress MacAddress => MacAddress.TryParse(Mac, out var m) ? m : throw new VmConfigException($"net {Tap}: mac {Mac} is not a MAC address");
}
