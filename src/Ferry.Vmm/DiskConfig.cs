using Ferry.Api;

namespace Ferry.Vmm;

/// <summary>
/// One `--disk PATH[,readonly][,id=NAME]`: a virtio-blk device on a raw image. <see cref="Id"/> is
/// the serial the guest reads with GET_ID (1 to 20 printable ASCII characters, no comma).
/// Saved in the VM's configuration, so a snapshot or a migration carries the device list.
/// </summary>
public sealed record DiskConfig(string Path, bool ReadOnly, string Id)
{
    public const int MaxIdLength = DiskId.MaxLength;

    /// <summary>Parses the option's value; disk <paramref name="index"/> gets id "diskN" unless it names one. Throws VmConfigException.</summary>
    public static DiskConfig Parse(string spec, int index)
    {
        var parts = spec.Split(',');
        string path = parts[0];
        if (path.Length == 0) throw new VmConfigException($"--disk {spec}: no image path (write --disk PATH[,readonly][,id=NAME])");
        bool readOnly = false;
        string? id = null;
        foreach (var option in parts.Skip(1))
        {
            if (option == "readonly") readOnly = true;
            else if (option.StartsWith("id=", StringComparison.Ordinal)) id = option[3..];
            else throw new VmConfigException($"--disk {spec}: unknown option {VmName.Printable(option)} (write --disk PATH[,readonly][,id=NAME])");
        }
        id ??= $"disk{index}";
        if (!IsValidId(id)) throw new VmConfigException($"--disk {spec}: id must be 1 to {MaxIdLength} printable ASCII characters");
        return new DiskConfig(path, readOnly, id);
    }

    public static bool IsValidId(string id) => DiskId.IsValid(id);
}
