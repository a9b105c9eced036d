using System.CommandLine;
using Ferry.Agent.Api;
using Ferry.Api;
using Ferry.Vmm;
using Grpc.Core;

namespace Ferry.Cli.Commands.Hosts;

/// <summary>`ferry --host HOST vm create|start|stop|show|delete|list|console|migrate`: VMs as a host agent keeps them.</summary>
public static class VmCommands
{
    public static Command Create()
    {
        var vm = new Command("vm", "VMs on a host, through its agent (ferryd): ferry --host HOST vm ...");
        vm.Subcommands.Add(Define());
        foreach (var (name, what) in new[] { ("start", "Start a VM's VMM"), ("stop", "Stop a VM"), ("show", "Show a VM"), ("delete", "Delete a stopped VM's definition") })
            vm.Subcommands.Add(OnOne(name, what));
        vm.Subcommands.Add(List());
        vm.Subcommands.Add(ConsoleCommand());
        vm.Subcommands.Add(Migrate());
        return vm;
    }

    private static Command Define()
    {
        var name = new Argument<string>("NAME");
        var kernel = new Option<string>("--kernel") { Description = "Kernel file, a path on the agent's host", Required = true };
        var initrd = new Option<string>("--initrd") { Description = "Initial ramdisk, a path on the agent's host", DefaultValueFactory = _ => "" };
        var memory = new Option<string>("--memory") { Description = "Guest RAM, e.g. 512M or 4G", DefaultValueFactory = _ => "512M" };
        var cpus = new Option<int>("--cpus") { Description = "vCPUs", DefaultValueFactory = _ => 1 };
        var cmdline = new Option<string>("--cmdline") { Description = "Kernel command line", DefaultValueFactory = _ => "" };
        var disks = CommonOptions.Disks();
        disks.Description += ". PATH is an image on the agent's host (the same path on every host the VM may move to, unless it moves with vm migrate --copy-storage)";
        var nets = CommonOptions.Nets();
        nets.Description = "A virtio-net card on tap NAME of the agent's host (the agent creates it, on its guest bridge, if it does not exist); repeat for more. " +
                           "mac=MAC: the card's address (default: a random locally administered one, kept with the VM)";
        var command = new Command("create", "Define a VM on the host (kept across agent restarts); start it with vm start")
            { name, kernel, initrd, memory, cpus, cmdline, disks, nets };
        command.SetAction((parse, ct) =>
        {
            if (!SizeParser.TryParse(parse.GetValue(memory)!, out ulong bytes)) throw new UsageException($"--memory {parse.GetValue(memory)} is not a size (e.g. 512M, 4G)");
            var definition = new VmDefinition
            {
                Name = parse.GetValue(name)!, Kernel = parse.GetValue(kernel)!, Initrd = parse.GetValue(initrd)!,
                MemoryBytes = bytes, Cpus = parse.GetValue(cpus), Cmdline = parse.GetValue(cmdline)!,
            };
            // Parsed here as `ferry run` parses them, so a bad option fails before the agent is asked.
            string[] diskSpecs = parse.GetValue(disks) ?? [];
            for (int i = 0; i < diskSpecs.Length; i++)
            {
                var disk = DiskConfig.Parse(diskSpecs[i], i);
                definition.Disks.Add(new DiskDefinition { Path = disk.Path, ReadOnly = disk.ReadOnly, Id = disk.Id });
            }
            foreach (string spec in parse.GetValue(nets) ?? [])
            {
                var net = NetConfig.Parse(spec);
                definition.Nets.Add(new NetDefinition { Tap = net.Tap, Mac = net.Mac });
            }
            return AgentTarget.CallAsync(parse, async agent =>
            {
                var vm = await agent.Client.CreateVmAsync(new CreateVmRequest { Definition = definition }, cancellationToken: ct);
                Print(vm);
                return 0;
            });
        });
        return command;
    }

    private static Command OnOne(string verb, string description)
    {
        var name = new Argument<string>("NAME");
        var command = new Command(verb, description) { name };
        command.SetAction((parse, ct) => AgentTarget.CallAsync(parse, async agent =>
        {
            var vmRef = new VmRef { Name = parse.GetValue(name)! };
            var vm = verb switch
            {
                "start" => await agent.Client.StartVmAsync(vmRef, cancellationToken: ct),
                "stop" => await agent.Client.StopVmAsync(vmRef, cancellationToken: ct),
                "delete" => await agent.Client.DeleteVmAsync(vmRef, cancellationToken: ct),
                _ => await agent.Client.GetVmAsync(vmRef, cancellationToken: ct),
            };
            Print(vm);
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "The host's VMs and what each is doing");
        command.SetAction((parse, ct) => AgentTarget.CallAsync(parse, async agent =>
        {
            var list = await agent.Client.ListVmsAsync(new ListVmsRequest(), cancellationToken: ct);
            Console.WriteLine($"{"NAME",-20} {"STATE",-10} {"CPUS",4} {"MEMORY",9} {"PID",8} {"UPTIME",9}  DETAIL");
            foreach (var vm in list.Vms)
                Console.WriteLine($"{vm.Definition.Name,-20} {vm.State,-10} {vm.Definition.Cpus,4} {Units.Bytes((long)vm.Definition.MemoryBytes),9} " +
                                  $"{(vm.Pid > 0 ? vm.Pid.ToString() : "-"),8} {(vm.Pid > 0 ? $"{vm.UptimeMs / 1000.0:F0} s" : "-"),9}  {Detail(vm)}");
            return 0;
        }));
        return command;
    }

    private static Command ConsoleCommand()
    {
        var name = new Argument<string>("NAME");
        var follow = new Option<bool>("--follow") { Description = "Keep printing what the guest prints until Ctrl-C" };
        var command = new Command("console", "The guest's console output so far") { name, follow };
        command.SetAction((parse, ct) => AgentTarget.CallAsync(parse, async agent =>
        {
            using var call = agent.Client.ReadConsole(new ReadConsoleRequest { Name = parse.GetValue(name)!, Follow = parse.GetValue(follow) }, cancellationToken: ct);
            using var stdout = Console.OpenStandardOutput();
            try
            {
                await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct))
                {
                    await stdout.WriteAsync(chunk.Data.Memory, ct);
                    await stdout.FlushAsync(ct);
                }
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Cancelled) { /* Ctrl-C */ }
            catch (OperationCanceledException) { /* Ctrl-C */ }
            return 0;
        }));
        return command;
    }

    private static Command Migrate()
    {
        var name = new Argument<string>("NAME");
        var to = new Option<string>("--to") { Description = "The destination host: a name from the client configuration or its agent's ADDR:PORT", Required = true };
        var mode = new Option<string>("--mode") { Description = "cold, precopy, postcopy or hybrid", DefaultValueFactory = _ => "precopy" };
        mode.AcceptOnlyFromAmong("cold", "precopy", "postcopy", "hybrid");
        var maxDowntime = new Option<string?>("--max-downtime") { Description = "The pause to aim for, e.g. 50ms" };
        var bandwidth = new Option<string?>("--bandwidth") { Description = "Limit on the wire, e.g. 1Gbit" };
        var streams = new Option<int?>("--streams") { Description = "TCP connections in parallel" };
        var onNoConverge = new Option<string?>("--on-no-converge") { Description = "postcopy, abort or force" };
        var maxRounds = new Option<int?>("--max-rounds") { Description = "precopy, hybrid: rounds at most before --on-no-converge decides" };
        var timeout = new Option<string?>("--timeout") { Description = "precopy, hybrid: how long the rounds may take, e.g. 60s" };
        var verifyMemory = new Option<bool>("--verify-memory") { Description = "Check the destination's RAM equals the source's before it runs (tests)" };
        var copyStorage = new Option<bool>("--copy-storage")
        {
            Description = "Move the VM's disk images too (local disks): copied while the VM runs, written blocks sent again like dirty memory; " +
                          "the destination agent writes them to new images in its state directory. Default: the storage is shared and nothing of it is copied",
        };
        var json = new Option<bool>("--json") { Description = "Print the final report as JSON on stdout" };
        var command = new Command("migrate", "Move a running VM to another host, agent to agent")
            { name, to, mode, maxDowntime, bandwidth, streams, onNoConverge, maxRounds, timeout, verifyMemory, copyStorage, json };
        command.SetAction((parse, ct) =>
        {
            var request = new MigrateVmRequest
            {
                Name = parse.GetValue(name)!,
                To = AgentTarget.AddressOf(parse.GetValue(to)!),
                Mode = parse.GetValue(mode)!,
                Streams = parse.GetValue(streams) ?? 0,
                OnNoConverge = parse.GetValue(onNoConverge) ?? "",
                VerifyMemory = parse.GetValue(verifyMemory),
                CopyStorage = parse.GetValue(copyStorage),
                MaxRounds = parse.GetValue(maxRounds) is { } rounds ? (rounds >= 1 ? rounds : throw new UsageException($"--max-rounds {rounds}: at least 1")) : 0,
            };
            if (parse.GetValue(timeout) is { } t)
                request.TimeoutSeconds = RateParser.TryParseDuration(t, out var limit) && limit > TimeSpan.Zero ? limit.TotalSeconds : throw new UsageException($"--timeout {t} is not a duration (e.g. 60s)");
            if (parse.GetValue(maxDowntime) is { } md)
                request.MaxDowntimeMs = RateParser.TryParseDuration(md, out var d) ? d.TotalMilliseconds : throw new UsageException($"--max-downtime {md} is not a duration (e.g. 50ms)");
            if (parse.GetValue(bandwidth) is { } bw)
                request.BandwidthBitsPerSecond = RateParser.TryParseBitsPerSecond(bw, out long bits) ? bits : throw new UsageException($"--bandwidth {bw} is not a rate (e.g. 1Gbit)");
            return AgentTarget.CallAsync(parse, agent => RunMigrationAsync(agent, request, parse.GetValue(json), ct));
        });
        return command;
    }

    private static async Task<int> RunMigrationAsync(AgentConnection agent, MigrateVmRequest request, bool json, CancellationToken ct)
    {
        using var call = agent.Client.MigrateVm(request, cancellationToken: ct);
        MigrationUpdate? last = null;
        bool tty = !Console.IsErrorRedirected;
        await foreach (var update in call.ResponseStream.ReadAllAsync(ct))
        {
            last = update;
            if (update.Done) break;
            string line = $"ferry: {request.Name} → {request.To}: {update.Phase} {Units.Bytes(update.BytesDone)} of {Units.Bytes(update.BytesTotal)}" +
                          (update.Message.Length > 0 ? $" ({update.Message})" : "");
            if (tty) Console.Error.Write($"\r{line}\u001b[K");
            else Console.Error.WriteLine(line);
        }
        if (tty) Console.Error.WriteLine();
        if (last is null) throw new ApiException("the agent ended the migration without a word");
        Console.Error.WriteLine($"ferry: agent set-up until the source VMM was told to send: {last.AgentSetupMs:F1} ms " +
                                (last.StandbyReceiver
                                    ? $"({last.ReceiverStartMs:F1} ms of it claiming the destination's standby receiver)"
                                    : $"({last.ReceiverStartMs:F1} ms of it starting the receiving VMM at the destination)"));
        if (last.ReportJson.Length > 0)
            return Report.Print(System.Text.Json.JsonSerializer.Deserialize(last.ReportJson, ApiJson.Default.OperationStatus)!, json);
        Console.Error.WriteLine($"ferry: {last.Message}");
        return last.Succeeded ? 0 : (int)ExitCode.MigrationFailed;
    }

    private static string Detail(Vm vm) =>
        vm.MigratedTo.Length > 0 ? $"now at {vm.MigratedTo}" : vm.Detail;

    private static void Print(Vm vm)
    {
        var d = vm.Definition;
        Console.WriteLine($"{d.Name}: {vm.State}{(Detail(vm) is { Length: > 0 } detail ? $" ({detail})" : "")}");
        if (d.Kernel.Length == 0) return;
        Console.WriteLine($"  {d.Cpus} vCPU, {Units.Bytes((long)d.MemoryBytes)}, kernel {d.Kernel}{(d.Initrd.Length > 0 ? $", initrd {d.Initrd}" : "")}");
        if (d.Cmdline.Length > 0) Console.WriteLine($"  cmdline: {d.Cmdline}");
        foreach (var disk in d.Disks) Console.WriteLine($"  disk {disk.Id}: {disk.Path}{(disk.ReadOnly ? " (read-only)" : "")}");
        foreach (var net in d.Nets) Console.WriteLine($"  net: tap {net.Tap}, mac {net.Mac}");
        if (vm.Pid > 0) Console.WriteLine($"  pid {vm.Pid}, up {vm.UptimeMs / 1000.0:F1} s, CPU {vm.CpuMs} ms");
    }
}
