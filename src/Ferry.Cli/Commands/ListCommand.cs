using System.CommandLine;
using Ferry.Vmm.Api;
using Ferry.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry list`: every VM with a socket in the run directory that answers.</summary>
public static class ListCommand
{
    public static Command Create()
    {
        var command = new Command("list", $"List the running VMs (those with an API socket in {ApiSocketPaths.Directory}).\n\nExample:\n  ferry list");
        command.SetAction(async (parse, ct) =>
        {
            var sockets = Directory.Exists(ApiSocketPaths.Directory)
                ? Directory.GetFiles(ApiSocketPaths.Directory, "*.sock").Order(StringComparer.Ordinal).ToArray()
                : [];
            Console.WriteLine($"{"NAME",-20} {"STATE",-8} {"CPUS",4} {"MEMORY",9} {"PID",8}  SOCKET");
            foreach (var path in sockets)
            {
                VmStatus status;
                try { status = await new ApiClient(path).StatusAsync(ct); }
                catch (ApiException) { continue; } // a VM that died without removing its socket
                Console.WriteLine($"{status.Name,-20} {status.State,-8} {status.Cpus,4} {status.MemoryBytes >> 20,5} MiB {status.Pid,8}  {path}");
            }
            return 0;
        });
        return command;
    }
}
