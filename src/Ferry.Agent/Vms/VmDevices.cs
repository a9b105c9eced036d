using System.Text.RegularExpressions;
using Ferry.Agent.Api;
using Ferry.Api;

namespace Ferry.Agent.Vms;

/// <summary>
/// A definition's disks and network cards, checked as far as the agent can (the VMM checks the
/// rest when it opens them) and turned from the API's messages into the record and back.
/// </summary>
public static partial class VmDevices
{

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
            if (!DiskId.IsValid(id)) throw new AgentException($"disk {i}: id must be 1 to {DiskId.MaxLength} printable ASCII characters, no comma");
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
            // Generated once, as the VMM would, and kept in the record: the guest keeps its address wherever it runs.
            var mac = MacAddress.Generate();
            if (net.Mac.Length > 0 && !MacAddress.TryParse(net.Mac, out mac))
                throw new AgentException($"network card {i}: mac '{net.Mac}' is not a MAC address (six hex pairs: 52:54:00:12:34:56)");
            if (!mac.IsUsableByCard) throw new AgentException($"network card {i}: mac {mac} is a multicast or null address; a card needs a unicast one");
            nets.Add(new VmNet(net.Tap, mac.ToString()));
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

    /// <summary>
    /// Stricter than the VMM's rule (`NetConfig.IsValidTap`, the kernel's): the agent passes tap
    /// names to `ip` and makes taps itself, so only letters, digits, '.', '_' and '-'.
    /// </summary>
    [GeneratedRegex("^[A-Za-z0-9._-]{1,15}$")]
    private static partial Regex TapPattern();
}
