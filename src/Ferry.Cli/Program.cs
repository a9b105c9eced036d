using System.CommandLine;
using Ferry.Cli;
using Ferry.Cli.Commands;

var root = new RootCommand(
    """
    Ferry: a small virtual machine monitor for Linux KVM that moves running VMs between hosts.

    Example:
      ferry run --kernel ferry-guest.elf --initrd initrd.cpio --memory 1G --cpus 2 --cmdline "ferry.workload=memtouch"
    """);
root.Subcommands.Add(RunCommand.Create());
foreach (var command in ControlCommands.Create()) root.Subcommands.Add(command);
root.Subcommands.Add(ListCommand.Create());
root.Subcommands.Add(SnapshotCommand.Create());
root.Subcommands.Add(RestoreCommand.Create());
root.Subcommands.Add(MigrateCommand.Create());
root.Subcommands.Add(ReceiveCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(CompareCommand.Create());
root.Subcommands.Add(HeartbeatsCommand.Create());
root.Options.Add(Ferry.Cli.Commands.Hosts.AgentTarget.HostOption);
root.Subcommands.Add(Ferry.Cli.Commands.Hosts.VmCommands.Create());
root.Subcommands.Add(Ferry.Cli.Commands.Hosts.HostCommands.Create());

try
{
    var parse = root.Parse(args);
    if (parse.Errors.Count > 0)
    {
        // One line, like every other error, and the place to look for the right usage.
        var command = parse.CommandResult.Command;
        string where = command == root ? "ferry --help" : $"ferry {command.Name} --help";
        Console.Error.WriteLine($"ferry: {string.Join("; ", parse.Errors.Select(e => e.Message).Distinct())} (see {where})");
        return (int)ExitCode.BadInput;
    }
    return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
}
catch (Exception e)
{
    return ErrorReport.Print(e);
}
