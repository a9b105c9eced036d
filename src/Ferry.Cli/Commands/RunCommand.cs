using System.CommandLine;
using Ferry.Vmm;
using Ferry.Vmm.Api;

namespace Ferry.Cli.Commands;

/// <summary>`ferry run`: boots one VM in this process and serves its control API until it ends.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var kernel = new Option<string>("--kernel") { Description = "Kernel: an ELF with a PVH note (the test guest, Linux vmlinux) or a Linux bzImage", Required = true };
        var initrd = new Option<string?>("--initrd") { Description = "Initial ramdisk (for the test guest: its cpio archive of programs)" };
        var memory = CommonOptions.Size("--memory", "Guest RAM, binary units (512M, 1G, 16G)", "1G");
        var cpus = new Option<int>("--cpus") { Description = $"Number of vCPUs (1 to {VmConfig.MaxCpus})", DefaultValueFactory = _ => 1 };
        var cmdline = new Option<string>("--cmdline") { Description = "Kernel command line", DefaultValueFactory = _ => "" };
        var name = CommonOptions.Name();
        var apiSocket = new Option<string?>("--api-socket") { Description = "Control API socket (default: <run dir>/<name>.sock)" };
        var console = new Option<string>("--console") { Description = "Guest serial console: stdio (with keyboard input) or a file to append to", DefaultValueFactory = _ => "stdio" };
        var disks = CommonOptions.Disks();
        var seccomp = CommonOptions.Seccomp();
        var nets = CommonOptions.Nets();

        var command = new Command("run",
            """
            Boot a VM and run it until the guest powers off or `ferry stop` ends it.
            Exit code 0 when the guest powers off or reboots, 5 when it dies, 2 for bad input.

            Example:
              ferry run --kernel ferry-guest.elf --initrd initrd.cpio --memory 1G --cpus 2 \
                        --cmdline "ferry.workload=memtouch ferry.args=\"--mb 64 --rate 1000\"" --name demo
              ferry run --kernel ferry-guest.elf --initrd initrd.cpio --disk data.img,id=data --disk base.img,readonly
              ferry run --kernel ferry-guest.elf --initrd initrd.cpio --net tap=tap0 --net tap=tap1,mac=52:54:00:12:34:56
            """)
        { kernel, initrd, memory, cpus, cmdline, name, apiSocket, console, disks, nets, seccomp };

        command.SetAction(async (parse, cancellationToken) =>
        {
            string vmName = parse.GetValue(name) ?? $"vm-{Environment.ProcessId}";
            var config = new VmConfig(vmName, parse.GetValue(kernel)!, parse.GetValue(initrd), parse.GetValue(memory),
                parse.GetValue(cpus), parse.GetValue(cmdline)!)
            {
                Disks = [.. (parse.GetValue(disks) ?? []).Select(DiskConfig.Parse)],
                Nets = [.. (parse.GetValue(nets) ?? []).Select(NetConfig.Parse)],
            };
            string socket = parse.GetValue(apiSocket) ?? ApiSocketPaths.ForName(vmName);
            return await RunAsync(config, socket, parse.GetValue(console)!, parse.GetValue(seccomp));
        });
        return command;
    }

    private static async Task<int> RunAsync(VmConfig config, string socketPath, string consoleSpec, bool seccomp)
    {
        using var sink = ConsoleSink.Open(consoleSpec);
        var socket = ApiSocket.Bind(socketPath);
        KvmVm vm;
        try { vm = KvmVm.Create(config, sink.Write); }
        catch { socket.Dispose(); throw; }
        using (vm) return await VmHost.ServeAsync(vm, socket, sink, () => vm.Start(), seccomp: seccomp);
    }
}
