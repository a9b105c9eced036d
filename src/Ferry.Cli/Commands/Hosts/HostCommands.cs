using System.CommandLine;
using Ferry.Agent.Api;

namespace Ferry.Cli.Commands.Hosts;

/// <summary>`ferry --host HOST host show`: capacity and load as the agent reports them to a controller.</summary>
public static class HostCommands
{
    public static Command Create()
    {
        var host = new Command("host", "A host, through its agent (ferryd)");
        var show = new Command("show", "Capacity and load: cores, memory, VMs, their CPU, migrations in flight");
        show.SetAction((parse, ct) => AgentTarget.CallAsync(parse, async agent =>
        {
            var h = await agent.Client.GetHostAsync(new GetHostRequest(), cancellationToken: ct);
            Console.WriteLine($"{h.Name}: {h.Cpus} cores, load {h.Load1M:F2}; memory {Units.Bytes((long)h.MemoryAvailableBytes)} available of {Units.Bytes((long)h.MemoryTotalBytes)}");
            Console.WriteLine($"  {h.VmsRunning} VMs running: {h.VcpusRunning} vCPUs, {Units.Bytes((long)h.MemoryOfRunningVmsBytes)} of guest RAM, using {h.VmCpuCores:F2} cores");
            foreach (var vm in h.VmLoad) Console.WriteLine($"    {vm.Name}: {vm.CpuCores:F2} cores");
            Console.WriteLine($"  migrations in flight: {h.MigrationsInFlight} of at most {h.MaxMigrations}");
            return 0;
        }));
        host.Subcommands.Add(show);
        return host;
    }
}
