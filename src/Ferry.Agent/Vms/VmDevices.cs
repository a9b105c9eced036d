using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Ferry.Agent.Api;

namespace Ferry.Agent.Vms;

/// <summary>
/// A definition's disks and network cards, checked as far as the agent can (the VMM checks the
/// rest when it opens them) and turned from the API's messages into the record and back.
/// </summary>
public static partial class VmDevices
{
    public const int MaxIdLength = 20;

    public static IReadOnlyList<VmDisk> Disks(VmDefinition d)
    {
        var disks = new List<VmDisk>();
        foreach (var disk in d.Disks)
        {
            int i = disks.Count;
            if (!Path.IsPathFullyQualified(disk.Path)) throw new AgentException($"disk {i}: '{disk.Path}' is not an absolute path on this host");
            if (disk.Path.Contains(',')) throw new AgentException($"disk {i}: {disk.Path}: a disk's path may not hold a comma");
            if (!File.Exists(disk.Path)) throw new AgentException($"disk {i}: image {disk.Path} does not exist on this host");
            string id = disk.Id.Length > 0 ? disk.Id : $"disk{i}";
            if (id.Length > MaxIdLength || !id.All(c => c is > ' ' and <= '~' and not ','))
                throw new AgentException($"disk {i}: id must be 1 to {MaxIdLength} printable ASCII characters, no comma");
            if (disks.Any(other => other.Path == disk.Path)) throw new AgentException($"disk {i}: {disk.Path} is this VM's disk already");
            disks.Add(new VmDisk(disk.Path, disk.ReadOnly, id));
        }
        return disks;
    }

    public static IReadOnlyList<VmNet> Nets(VmDefinition d)
    {
        var nets = new List<VmNet>();
        foreach (var net in d.Nets)
        {
            int i = nets.Count;
            if (!TapPattern().IsMatch(net.Tap)) throw new AgentException($"network card {i}: tap '{net.Tap}': a tap name is 1 to 15 letters, digits, '.', '_' or '-'");
            if (nets.Any(other => other.Tap == net.Tap)) throw new AgentException($"network card {i}: tap {net.Tap} is this VM's already");
            string mac = net.Mac.Length > 0 ? net.Mac.ToLowerInvariant() : GenerateMac();
            if (!MacPattern().IsMatch(mac)) throw new AgentException($"network card {i}: mac '{net.Mac}' is not a MAC address (six hex pairs: 52:54:00:12:34:56)");
            if ((Convert.ToByte(mac[..2], 16) & 1) != 0 || mac == "00:00:00:00:00:00")
                throw new AgentException($"network card {i}: mac {mac} is a multicast or null address; a card needs a unicast one");
            nets.Add(new VmNet(net.Tap, mac));
        }
        return nets;
    }

    /// <summary>The record's devices as the API shows them.</summary>
    public static void Describe(VmRecord record, VmDefinition into)
    {
        foreach (var disk in record.Disks) into.Disks.Add(new DiskDefinition { Path = disk.Path, ReadOnly = disk.ReadOnly, Id = disk.Id });
        foreach (var net in record.Nets) into.Nets.Add(new NetDefinition { Tap = net.Tap, Mac = net.Mac });
    }

    /// <summary>`ferry run --disk` and `--net` values for these devices; <paramref name="diskPath"/> maps disk N's path as the VMM sees it.</summary>
    public static IEnumerable<string> VmmArguments(VmRecord record, Func<int, VmDisk, string> diskPath)
    {
        for (int i = 0; i < record.Disks.Count; i++)
        {
            var disk = record.Disks[i];
            yield return "--disk";
            yield return $"{diskPath(i, disk)}{(disk.ReadOnly ? ",readonly" : "")},id={disk.Id}";
        }
        foreach (var net in record.Nets)
        {
            yield return "--net";
            yield return $"tap={net.Tap},mac={net.Mac}";
        }
    }

    /// <summary>
    /// `ferry receive --disk` and `--net` values for these devices: only where each is on this host
    /// (disk N's path as <paramref name="diskPath"/> maps it, the tap); the rest comes with the VM.
    /// </summary>
    public static IEnumerable<string> ReceiverArguments(VmRecord record, Func<int, VmDisk, string> diskPath)
    {
        for (int i = 0; i < record.Disks.Count; i++)
        {
            yield return "--disk";
            yield return diskPath(i, record.Disks[i]);
        }
        foreach (var net in record.Nets)
        {
            yield return "--net";
            yield return $"tap={net.Tap}";
        }
    }

    /// <summary>A random locally administered unicast address, as the VMM generates one.</summary>
    private static string GenerateMac()
    {
        var bytes = RandomNumberGenerator.GetBytes(6);
        bytes[0] = (byte)((bytes[0] & 0xFC) | 0x02);
        return string.Join(':', bytes.Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
    }

    [GeneratedRegex("^[A-Za-z0-9._-]{1,15}$")]
    private static partial Regex TapPattern();

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")]
    private static partial Regex MacPattern();
}
