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
}
