using System.CommandLine;
using Ferry.Vmm.Api;
using Ferry.Vmm.Operations;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry snapshot`: the VM's process writes its whole state to a file.</summary>
public static class SnapshotCommand
{
    public static Command Create()
    {
        var (socket, name) = CommonOptions.VmSelector();
        var output = new Option<string>("--out") { Description = "The snapshot file to write (replaced atomically when complete)", Required = true };
        var resume = new Option<bool>("--resume") { Description = "Resume the VM once the snapshot is written (default: it stays paused)" };
        var command = new Command("snapshot",
            """
            Pause a VM and write its complete state (vCPUs, devices, memory) to a file.
            Zero and never-touched pages are not written. `ferry restore FILE` starts it again.

            Example:
              ferry snapshot --name demo --out demo.snap --resume
            """)
        { socket, name, output, resume };
        command.SetAction(async (parse, ct) =>
        {
            var client = new ApiClient(CommonOptions.ResolveSocket(parse, socket, name));
            string path = Path.GetFullPath(parse.GetValue(output)!);
            await client.SnapshotAsync(path, parse.GetValue(resume), ct);
            var status = await OperationWatcher.WatchAsync(client, "snapshot", ct);
            return Report.Print(status);
        });
        return command;
    }
}

