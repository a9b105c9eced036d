using System.CommandLine;
using Ferry.Vmm.Api;
using Ferry.Vmm;

namespace Ferry.Cli.Commands;

/// <summary>Options several commands share, parsed and checked the same way everywhere.</summary>
public static class CommonOptions
{
    public static Option<ulong> Size(string name, string description, string defaultValue) => new(name)
    {
        Description = description,
        DefaultValueFactory = _ => SizeParser.TryParse(defaultValue, out ulong v) ? v : 0,
        CustomParser = result =>
        {
            string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (SizeParser.TryParse(text, out ulong bytes)) return bytes;
            result.AddError($"{name} {text}: not a size (write e.g. 512M, 1G, 16G)");
            return 0;
        },
    };

    public static Option<string?> Name() => new("--name")
    {
        Description = "The VM's name; its API socket is named after it (default: vm-<pid>)",
        Validators =
        {
            result =>
            {
                string? value = result.Tokens.Count > 0 ? result.Tokens[0].Value : null;
                if (value is not null && !VmName.IsValid(value))
                    result.AddError($"--name {VmName.Printable(value)}: {VmName.Rule}");
            },
        },
    };

    /// <summary>`--disk PATH[,readonly][,id=NAME]`, repeatable: the VM's disks in device order.</summary>
    public static Option<string[]> Disks() => new("--disk")
    {
        Description = "A virtio-blk disk on a raw image file; repeat for more (in device order). " +
                      "readonly: the guest cannot write it (a shared lock; others may read it too); id=NAME: the serial the guest reads (at most 20 characters)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>`--disk PATH` of receive and restore: the destination's image for each disk of the VM, in its device order.</summary>
    public static Option<string[]> DiskPaths() => new("--disk")
    {
        Description = "The image for the VM's next disk here, in the order of its devices (default: the path it had at the source); repeat per disk",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>The VM's configuration with its disks' images replaced by <paramref name="paths"/>, in order. Throws UsageException.</summary>
    public static VmConfig MapDisks(VmConfig config, string[] paths)
    {
        if (paths.Length == 0) return config;
        if (paths.Length > config.Disks.Length)
            throw new UsageException($"{paths.Length} --disk options but the VM has {config.Disks.Length} disk{(config.Disks.Length == 1 ? "" : "s")}");
        var disks = config.Disks.ToArray();
        for (int i = 0; i < paths.Length; i++)
        {
            if (paths[i].Length == 0 || paths[i].Contains(','))
                throw new UsageException($"--disk {paths[i]}: give only the image path here (readonly and id come with the VM)");
            disks[i] = disks[i] with { Path = paths[i] };
        }
        return config with { Disks = disks };
    }

    /// <summary>`--net tap=NAME[,mac=MAC]`, repeatable: the VM's network cards in device order (after the disks).</summary>
    public static Option<string[]> Nets() => new("--net")
    {
        Description = "A virtio-net card on tap NAME (opened, or created if it does not exist); repeat for more (in device order). " +
                      "mac=MAC: the card's address (default: a random locally administered one, kept with the VM)",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>`--net tap=NAME` of receive and restore: the destination's tap for each card of the VM, in its device order.</summary>
    public static Option<string[]> NetTaps() => new("--net")
    {
        Description = "The tap for the VM's next network card here, as tap=NAME, in the order of its devices (default: the tap it had at the source); repeat per card",
        Arity = ArgumentArity.ZeroOrMore,
    };

    /// <summary>The VM's configuration with its cards' taps replaced by <paramref name="specs"/> (tap=NAME), in order. Throws UsageException.</summary>
    public static VmConfig MapNets(VmConfig config, string[] specs)
    {
        if (specs.Length == 0) return config;
        if (specs.Length > config.Nets.Length)
            throw new UsageException($"{specs.Length} --net options but the VM has {config.Nets.Length} network card{(config.Nets.Length == 1 ? "" : "s")}");
        var nets = config.Nets.ToArray();
        for (int i = 0; i < specs.Length; i++)
        {
            if (!specs[i].StartsWith("tap=", StringComparison.Ordinal) || specs[i].Contains(','))
                throw new UsageException($"--net {VmName.Printable(specs[i])}: give only tap=NAME here (the MAC comes with the VM)");
            string tap = specs[i][4..];
            if (!NetConfig.IsValidTap(tap)) throw new UsageException($"--net {VmName.Printable(specs[i])}: {NetConfig.TapRule}");
            nets[i] = nets[i] with { Tap = tap };
        }
        return config with { Nets = nets };
    }

    /// <summary>--api-socket or --name: how control commands find their VM.</summary>
    public static (Option<string?> Socket, Option<string?> Name) VmSelector() =>
        (new Option<string?>("--api-socket") { Description = "The VM's control API socket" }, Name());

    public static string ResolveSocket(ParseResult parse, Option<string?> socket, Option<string?> name)
    {
        string? path = parse.GetValue(socket);
        if (path is not null) return path;
        string? vmName = parse.GetValue(name);
        if (vmName is not null) return ApiSocketPaths.ForName(vmName);
        throw new UsageException("say which VM: --api-socket PATH or --name NAME (see `ferry list`)");
    }

    /// <summary>--seccomp: the VMM process confines itself to the system calls it needs once its VM runs.</summary>
    public static Option<bool> Seccomp() => new("--seccomp")
    {
        Description = "Once the VM runs, allow this process only the system calls a VMM needs (src/Ferry.Vmm/Jail/seccomp-x86_64.txt); any other kills it",
    };
}
